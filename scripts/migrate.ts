/** `npm run migrate`: brings the configured database to the latest migration. */
import { connectDatabase, databaseTargetOf } from '../db/connect.js'
import { migrateToLatest } from '../db/migrate.js'
import { ConfigError, loadConfig } from '../lib/config.js'

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
