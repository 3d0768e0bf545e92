import { promises as fs } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Kysely } from 'kysely'
import { FileMigrationProvider, Migrator } from 'kysely/migration'
import type { Database } from './database.js'

const MIGRATION_FOLDER = fileURLToPath(new URL('../migrations', import.meta.url))

export class MigrationError extends Error {}

/** Brings the schema to the latest migration; `log` receives one line per step. */
export async function migrateToLatest(
  db: Kysely<Database>,
  log: (line: string) => void = () => {},
): Promise<void> {
  const migrator = new Migrator({
    db,
    provider: new FileMigrationProvider({ fs, path, migrationFolder: MIGRATION_FOLDER }),
  })
  const { error, results } = await migrator.migrateToLatest()
  for (const result of results ?? []) {
    log(`migration ${result.migrationName}: ${result.status}`)
  }
  if (error) {
    throw new MigrationError(`migration failed: ${(error as Error).message ?? String(error)}`, {
      cause: error,
    })
  }
}
