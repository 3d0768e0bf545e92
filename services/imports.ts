import { pipeline, type Readable } from 'node:stream'
import { CsvError, parse } from 'csv-parse'
import { stringify } from 'csv-stringify/sync'
import { listImportErrorsAfter } from '../db/customer-import-errors.js'
import { stageImportRows } from '../db/customer-import-rows.js'
import { findImport, insertImport, setImportRows } from '../db/customer-imports.js'
import type { ImportMode } from '../db/database.js'
import { inTransaction, type Executor } from '../db/executor.js'
import { enqueue } from '../db/job-queue.js'
import type { Import } from '../generated/schemas/Import.js'
import { toImport } from './representations.js'
import { currentChangeContext } from '../lib/change-context.js'
import { invalid, NotFound, TooLarge } from '../lib/domain-errors.js'
import { readHeader } from './import-rows.js'

/** SPEC: up to 50 MB and 200,000 rows. */
export const IMPORT_MAX_BYTES = 50 * 1024 * 1024
export const IMPORT_MAX_ROWS = 200_000

/** Rows staged per statement while the file is read. */
const STAGE_BATCH = 2000

/** Longer than any valid row (the fields' limits add up to about 3,300 characters). */
const MAX_RECORD_CHARACTERS = 64 * 1024

export interface ImportRequest {
  mode: ImportMode
  dryRun: boolean
  /** The token's `sub`: who the notes an import adds are by. */
  userSub: number
}

/** A CSV the parser cannot read (a quote never closed, a record past its size): a 400. */
function unreadable(error: unknown): unknown {
  if (!(error instanceof CsvError)) return error
  const line = (error as CsvError & { lines?: number }).lines
  const where = typeof line === 'number' ? ` (line ${line})` : ''
  return invalid('body', `is not a CSV file this import can read${where}: ${error.code}`)
}

/**
 * `POST /imports`: reads the CSV file as it streams (a batch of rows at a time), checks the
 * header (`Invalid` for an unknown, repeated or missing column) and the size (`TooLarge` past
 * 200,000 rows), stages its rows and queues the import's job, all in one transaction: the job
 * exists exactly when the import and its rows do. Resolves to the queued import.
 */
export async function startImport(
  db: Executor,
  businessId: number,
  request: ImportRequest,
  file: Readable,
): Promise<Import> {
  const parser = parse({
    bom: true,
    relax_column_count: true,
    skip_empty_lines: true,
    max_record_size: MAX_RECORD_CHARACTERS,
  })
  // A failure reading the file reaches the parser, and so the loop below.
  pipeline(file, parser, () => undefined)
  const records: AsyncIterator<string[]> = parser[Symbol.asyncIterator]()
  try {
    const first = await records.next()
    const columns = readHeader(first.done ? [] : (first.value as string[]))
    return await inTransaction(db, async (trx) => {
      const created = await insertImport(trx, businessId, {
        mode: request.mode,
        dry_run: request.dryRun,
        created_by: request.userSub,
        request_id: currentChangeContext()?.requestId ?? null,
        columns,
      })
      let rows = 0
      let batch: string[][] = []
      for (let next = await records.next(); !next.done; next = await records.next()) {
        rows += 1
        if (rows > IMPORT_MAX_ROWS) {
          throw new TooLarge(`The file has more than ${IMPORT_MAX_ROWS} rows`)
        }
        batch.push(next.value as string[])
        if (batch.length === STAGE_BATCH) {
          await stageImportRows(trx, businessId, created.id, rows - batch.length + 1, batch)
          batch = []
        }
      }
      await stageImportRows(trx, businessId, created.id, rows - batch.length + 1, batch)
      const counted = await setImportRows(trx, businessId, created.id, rows)
      await enqueue(trx, 'import-customers', { businessId, importId: created.id })
      return toImport(counted)
    })
  } catch (error) {
    throw unreadable(error)
  } finally {
    // Stops reading a file that was refused part-way (and lets its source close).
    await records.return?.()
    file.destroy()
  }
}

export async function getImport(
  db: Executor,
  businessId: number,
  importId: number,
): Promise<Import> {
  const row = await findImport(db, businessId, importId)
  if (!row) throw new NotFound('import')
  return toImport(row)
}

/** Problems read per statement while the errors file streams. */
const ERRORS_BATCH = 1000

/** UTF-8 byte-order mark: spreadsheet programs then read the file as UTF-8. */
const BOM = '\uFEFF'

/**
 * `GET /imports/{importId}/errors`: the rejected rows' problems as CSV text (`row,column,message`,
 * header first), a batch of problems per chunk, read only as the caller asks for more. The
 * import is looked up before this resolves (`NotFound` is an ordinary error then).
 */
export async function importErrorsCsv(
  db: Executor,
  businessId: number,
  importId: number,
): Promise<AsyncGenerator<string, void, undefined>> {
  if (!(await findImport(db, businessId, importId))) throw new NotFound('import')
  async function* chunks(): AsyncGenerator<string, void, undefined> {
    yield `${BOM}row,column,message\r\n`
    let after: { row: number; position: number } | undefined
    for (;;) {
      const problems = await listImportErrorsAfter(db, businessId, importId, after, ERRORS_BATCH)
      if (problems.length > 0) {
        yield stringify(
          problems.map((problem) => [problem.row_number, problem.column, problem.message]),
          { record_delimiter: 'windows' },
        )
      }
      const last = problems.at(-1)
      if (!last || problems.length < ERRORS_BATCH) return
      after = { row: last.row_number, position: last.position }
    }
  }
  return chunks()
}
