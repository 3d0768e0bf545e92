/**
 * The business_id check over the whole suite (docs/scaling.md): the before step names the
 * business-scoped tables from the migrated schema, each test process records what it sends
 * (test/support/statement-capture.ts), and the after step fails the run if a statement of the
 * service reads or writes such a table without pinning business_id.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { sql, type Kysely } from 'kysely'
import type { Database } from '../../db/database.js'
import {
  checkStatements,
  isMarkedCrossBusiness,
  type Violation,
} from '../support/business-id-check.js'
import { isAlive } from '../support/process-alive.js'
import {
  statementsFolder,
  STATEMENTS_ROOT,
  type CapturedStatement,
} from '../support/statement-capture.js'

const TABLES_FILE = 'business-scoped-tables.json'

/** Every table (or view) of the schema with a business_id column, read from the schema itself. */
export async function businessScopedTables(db: Kysely<Database>): Promise<string[]> {
  const { rows } = await sql<{ table_name: string }>`select distinct table_name
    from information_schema.columns
    where table_schema = 'public' and column_name = 'business_id'
    order by table_name`.execute(db)
  return rows.map((row) => row.table_name)
}

/** Run by the before step on the migrated template: starts this run's capture. */
export async function prepareStatementCheck(db: Kysely<Database>): Promise<void> {
  const folder = statementsFolder()
  // Left by runs that died before their after step.
  const runners = existsSync(STATEMENTS_ROOT) ? readdirSync(STATEMENTS_ROOT) : []
  for (const runner of runners.filter((name) => !isAlive(Number(name)))) {
    rmSync(statementsFolder(Number(runner)), { recursive: true, force: true })
  }
  rmSync(folder, { recursive: true, force: true })
  mkdirSync(folder, { recursive: true })
  writeFileSync(`${folder}${TABLES_FILE}`, JSON.stringify(await businessScopedTables(db)))
}

/** The statements the service sent, over every test process of this run. */
function readCaptured(folder: string): { service: string[]; ignored: number } {
  const service = new Set<string>()
  const ignored = new Set<string>()
  for (const name of readdirSync(folder).filter((file) => /^\d+\.json$/.test(file))) {
    const statements = JSON.parse(readFileSync(`${folder}${name}`, 'utf8')) as CapturedStatement[]
    for (const { sql: text, origins } of statements) {
      // Written by the tests themselves (fixtures, assertions) or the migrations: not the service's.
      const byService = origins.some((origin) => origin === 'service' || origin === 'unknown')
      ;(byService ? service : ignored).add(text)
    }
  }
  for (const text of service) ignored.delete(text)
  return { service: [...service], ignored: ignored.size }
}

const oneLine = (text: string): string => text.replace(/\s+/g, ' ').trim()

/** Run by the after step: prints the violations and sets a failing exit code if there are any. */
export async function checkCapturedStatements(): Promise<void> {
  const folder = statementsFolder()
  let tables: string[]
  try {
    tables = JSON.parse(readFileSync(`${folder}${TABLES_FILE}`, 'utf8')) as string[]
  } catch {
    return
  }
  const { service, ignored } = readCaptured(folder)
  rmSync(folder, { recursive: true, force: true })
  const violations = await checkStatements(service, tables)
  const marked = service.filter(isMarkedCrossBusiness).length
  console.log(
    `# business_id check: ${service.length} statements of the service (${marked} marked cross-business), ${new Set(violations.map((v) => v.statement)).size} not pinned; ${ignored} written by tests or migrations, not checked`,
  )
  if (violations.length === 0) return
  const byStatement = new Map<string, Violation[]>()
  for (const violation of violations) {
    byStatement.set(violation.statement, [
      ...(byStatement.get(violation.statement) ?? []),
      violation,
    ])
  }
  console.error('# statements that read or write a business-scoped table without business_id = …:')
  for (const [statement, found] of byStatement) {
    console.error(`#   ${oneLine(statement)}`)
    for (const { table, reason } of found) console.error(`#     - ${table}: ${reason}`)
  }
  console.error(
    '# Pin business_id in each, or mark a statement that must span businesses with /* cross-business: <why> */ (docs/scaling.md).',
  )
  process.exitCode = 1
}
