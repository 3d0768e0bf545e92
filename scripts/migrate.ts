/** `npm run migrate`: brings the configured database to the latest migration. */
import { connectDatabase, databaseTargetOf } from '../db/connect.js'
import { migrateToLatest } from '../db/migrate.js'
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
  const { db } = await connectDatabase(databaseTargetOf(config))
  try {
    await migrateToLatest(db, (line) => console.log(line))
    console.log('database is at the latest migration')
  } finally {
    await db.destroy()
  }
} catch (error) {
  console.error(error instanceof ConfigError ? error.message : (error as Error).message)
  process.exit(1)
}
