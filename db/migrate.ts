import { promises as fs } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Kysely } from 'kysely'
import { FileMigrationProvider, Migrator } from 'kysely/migration'
import type { Database } from './database.js'

const MIGRATION_FOLDER = fileURLToPath(new URL('../migrations', import.meta.url))

export class MigrationError extends Error {}

export interface MigrationProgress {
  /** Once, before any step runs: how many steps are pending (0: the schema is up to date). */
  planned?: (steps: number) => void
  /** After the run, one line per step: `migration <name>: Success` (or Error, NotExecuted). */
  step?: (line: string) => void
}

/** "Migrating: 3 steps", or "Database up to date": what `planned` is told, in words. */
export const describePlan = (steps: number): string =>
  steps === 0 ? 'Database up to date' : `Migrating: ${steps} step${steps === 1 ? '' : 's'}`

/** The project's migrations (the `migrations/` folder) over `db`. */
export function migratorFor(db: Kysely<Database>): Migrator {
  return new Migrator({
    db,
    provider: new FileMigrationProvider({ fs, path, migrationFolder: MIGRATION_FOLDER }),
  })
}

/** Brings the schema to the latest migration, telling `progress` the plan and each step. */
export async function migrateToLatest(
  db: Kysely<Database>,
  progress: MigrationProgress = {},
): Promise<void> {
  const migrator = migratorFor(db)
  if (progress.planned) {
    const migrations = await migrator.getMigrations()
    progress.planned(migrations.filter((migration) => !migration.executedAt).length)
  }
  const { error, results } = await migrator.migrateToLatest()
  for (const result of results ?? []) {
    progress.step?.(`migration ${result.migrationName}: ${result.status}`)
  }
  if (error) {
    throw new MigrationError(`migration failed: ${(error as Error).message ?? String(error)}`, {
      cause: error,
    })
  }
}
