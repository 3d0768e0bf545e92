/** `npm run migrate`: brings the configured database to the latest migration. */
import { connectDatabase, databaseTargetOf } from '../db/connect.js'
import { describePlan, migrateToLatest } from '../db/migrate.js'
import { ConfigError, loadConfig } from '../lib/config.js'
import { parseCommandLine } from './cli.js'

parseCommandLine({
  command: 'npm run migrate',
  summary:
    'Brings the database to the latest migration, printing each step: DATABASE_URL, or without it the embedded database in DATA_DIR. The service does the same at start-up.',
  options: {},
})

try {
  const config = loadConfig()
  // Embedded: takes DATA_DIR's lock, so it refuses while the service runs on that folder.
  const connection = await connectDatabase(databaseTargetOf(config))
  try {
    await migrateToLatest(connection.db, {
      planned: (steps) => console.log(describePlan(steps)),
      step: (line) => console.log(line),
    })
    console.log('database is at the latest migration')
  } finally {
    await connection.close()
  }
} catch (error) {
  console.error(error instanceof ConfigError ? error.message : (error as Error).message)
  process.exit(1)
}
