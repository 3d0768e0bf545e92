import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/**
 * Which database the suite runs on, decided once by test/setup/before.ts and read by every
 * test file: PostgreSQL (TEST_DATABASE_URL, or a testcontainers PostgreSQL where Docker
 * answers), else embedded PGlite.
 */
export type TestDatabaseChoice =
  | { kind: 'postgres'; adminUrl: string; template: string; source: string; containerId?: string }
  | {
      kind: 'embedded'
      source: string
      /**
       * The migrated template built by the before step: `dataDir` (a PGlite data directory a
       * server process may start from) and `archive` (the same, dumped for in-memory PGlite).
       */
      template?: { folder: string; dataDir: string; archive: string }
    }

const STATE_DIR = fileURLToPath(new URL('../../.tap/', import.meta.url))
/**
 * Kept per tap runner (the parent of the before step and of every test file), so that two
 * suites run side by side in one checkout (PostgreSQL and PGlite in CI) each read their own.
 */
const STATE_FILE = `${STATE_DIR}test-database-${process.ppid}.json`

/**
 * One template per suite run, named after the tap runner (the before step's parent, alive
 * for the whole run), so suites side by side never collide and leftovers can be recognised.
 */
export const TEMPLATE_DATABASE = `payme_test_${process.ppid}_template`

export function saveChoice(choice: TestDatabaseChoice): void {
  mkdirSync(STATE_DIR, { recursive: true })
  writeFileSync(STATE_FILE, JSON.stringify(choice))
}

/** The after step's last act: the runner's choice is not needed again. */
export function forgetChoice(): void {
  rmSync(STATE_FILE, { force: true })
}

export function loadChoice(): TestDatabaseChoice {
  if (existsSync(STATE_FILE))
    return JSON.parse(readFileSync(STATE_FILE, 'utf8')) as TestDatabaseChoice
  // A test file run on its own (node --import tsx test/x.test.ts) without the before step.
  if (process.env.TEST_DATABASE_URL) {
    throw new Error('Run the suite with `npm test` so that the template database is prepared')
  }
  return { kind: 'embedded', source: 'PGlite (no TEST_DATABASE_URL)' }
}

/** The same server, another database name. */
export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url)
  parsed.pathname = `/${database}`
  return parsed.toString()
}
