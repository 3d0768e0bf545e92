import type { Kysely, Transaction } from 'kysely'
import type { CountryCode } from 'libphonenumber-js'
import { insertImportErrors } from '../db/customer-import-errors.js'
import { deleteImportRows, readImportRows } from '../db/customer-import-rows.js'
import {
  countBatch,
  findImport,
  finishImport,
  lockImportBatch,
  markImportRunning,
  type ImportRow,
} from '../db/customer-imports.js'
import {
  analyzeCustomerTables,
  findCustomerRow,
  findUpsertMatches,
  type CustomerRow,
} from '../db/customers.js'
import type { Database } from '../db/database.js'
import type { CustomerUpdate } from '../generated/schemas/CustomerUpdate.js'
import { runAs } from '../lib/change-context.js'
import { isRetryableConflict } from '../lib/database-errors.js'
import { phoneSha256 } from '../lib/phone.js'
import { businessCountry } from './business-country.js'
import { createCustomers } from './bulk-customers.js'
import { updateCustomer } from './customers.js'
import { IMPORT_MAX_ROWS } from './imports.js'
import {
  isRejected,
  readRow,
  twoCustomersMatched,
  type AcceptedRow,
  type ImportColumn,
  type RejectedRow,
} from './import-rows.js'
import { addNote } from './notes.js'

/** Rows applied per transaction: a batch's locks are held for a fraction of a second. */
export const IMPORT_BATCH_ROWS = 500

/** A batch that deadlocked with another writer is tried again this many times. */
const BATCH_ATTEMPTS = 5

interface BatchOutcome {
  lastRow: number
  created: number
  updated: number
  skipped: number
  rejected: RejectedRow[]
}

/** The fields an upsert row would change on the customer (a field given with another value). */
function changesFor(row: AcceptedRow, current: CustomerRow): CustomerUpdate {
  const changes: CustomerUpdate = {}
  for (const [field, value] of Object.entries(row.customer)) {
    if (value !== current[field as keyof CustomerRow]) {
      Object.assign(changes, { [field]: value })
    }
  }
  return changes
}

/**
 * One upsert row, as SPEC says: the active customer with its phone, else with its e-mail, is
 * updated (nothing when no field differs: skipped); a row whose phone and e-mail name two
 * customers is rejected; no match creates one.
 */
async function upsertRow(
  trx: Transaction<Database>,
  businessId: number,
  job: ImportRow,
  row: AcceptedRow,
): Promise<'created' | 'updated' | 'skipped' | RejectedRow> {
  const { phone, email } = row.customer
  const matches = await findUpsertMatches(trx, businessId, {
    phoneSha256: phone ? phoneSha256(phone) : null,
    email: email || null,
  })
  const { byPhone, byEmail } = matches
  if (byPhone !== null && byEmail !== null && byPhone !== byEmail) {
    return twoCustomersMatched(row.rowNumber)
  }
  const matched = byPhone ?? byEmail
  const current = matched === null ? undefined : await findCustomerRow(trx, businessId, matched)
  if (!current) {
    await createCustomers(trx, businessId, [row], { source: 'import', noteAuthor: job.created_by })
    return 'created'
  }
  const changes = changesFor(row, current)
  if (Object.keys(changes).length === 0) return 'skipped'
  await updateCustomer(trx, businessId, current.id, changes, undefined, 'import')
  if (row.note !== undefined) {
    await addNote(trx, businessId, current.id, { content: row.note }, job.created_by)
  }
  return 'updated'
}

/** Applies the batch's rows in `trx`, in file order; `written` as createCustomers calls it. */
async function applyRows(
  trx: Transaction<Database>,
  job: ImportRow,
  rows: (AcceptedRow | RejectedRow)[],
  written?: () => void,
): Promise<Omit<BatchOutcome, 'lastRow'>> {
  const outcome = { created: 0, updated: 0, skipped: 0, rejected: [] as RejectedRow[] }
  const accepted: AcceptedRow[] = []
  for (const row of rows) {
    if (isRejected(row)) outcome.rejected.push(row)
    else accepted.push(row)
  }
  if (job.mode === 'create') {
    await createCustomers(trx, job.business_id, accepted, {
      source: 'import',
      noteAuthor: job.created_by,
      written,
    })
    outcome.created = accepted.length
    return outcome
  }
  for (const row of accepted) {
    const result = await upsertRow(trx, job.business_id, job, row)
    if (typeof result === 'string') outcome[result] += 1
    else outcome.rejected.push(result)
  }
  outcome.rejected.sort((a, b) => a.rowNumber - b.rowNumber)
  return outcome
}

/** Counts the batch, keeps its problems and removes its staged rows, in `trx`. */
async function recordBatch(
  trx: Transaction<Database>,
  job: ImportRow,
  outcome: BatchOutcome,
): Promise<void> {
  const { business_id: businessId, id } = job
  await insertImportErrors(
    trx,
    businessId,
    id,
    outcome.rejected.flatMap((row) =>
      row.problems.map((problem) => ({
        row_number: row.rowNumber,
        position: job.columns.indexOf(problem.column) + 1,
        column: problem.column,
        message: problem.message,
      })),
    ),
  )
  await countBatch(trx, businessId, id, {
    lastRow: outcome.lastRow,
    created: outcome.created,
    updated: outcome.updated,
    skipped: outcome.skipped,
    failed: outcome.rejected.length,
  })
  await deleteImportRows(trx, businessId, id, {
    afterRow: job.processed,
    lastRow: outcome.lastRow,
  })
}

/**
 * The next batch of the import, in one transaction that holds the import's row lock: the rows
 * after `processed` are checked and applied, counted and removed from staging together, so a
 * restart resumes exactly after the last committed batch. A dry run's batch is rolled back and
 * only its counts and problems are then recorded (if no other attempt recorded that batch
 * meanwhile). False when no row is left.
 */
async function applyNextBatch(
  db: Kysely<Database>,
  businessId: number,
  importId: number,
  country: CountryCode,
): Promise<boolean> {
  const trx = await db.startTransaction().execute()
  let outcome: BatchOutcome | undefined
  let job: ImportRow | undefined
  try {
    job = await findImport(trx, businessId, importId, { lock: true })
    const staged = job
      ? await readImportRows(trx, businessId, importId, job.processed, IMPORT_BATCH_ROWS)
      : []
    const last = staged.at(-1)
    if (!job || !last) {
      await trx.rollback().execute()
      return false
    }
    const columns = job.columns as ImportColumn[]
    const rows = staged.map((row) => readRow(columns, row.cells, row.row_number, country))
    outcome = { lastRow: last.row_number, ...(await applyRows(trx, job, rows)) }
    if (job.dry_run) {
      await trx.rollback().execute()
    } else {
      await recordBatch(trx, job, outcome)
      await trx.commit().execute()
      return true
    }
  } catch (error) {
    await trx
      .rollback()
      .execute()
      .catch(() => undefined)
    throw error
  }
  const checked = job
  const counted = outcome
  await db.transaction().execute(async (record) => {
    const again = await findImport(record, businessId, importId, { lock: true })
    if (again?.processed === checked.processed) await recordBatch(record, checked, counted)
  })
  return true
}

const isPowerOfFour = (n: number): boolean => (n & (n - 1)) === 0 && (n & 0x55555555) !== 0

/**
 * After batches 1, 4, 16, 64, …: the business has grown by a factor of four since the planner
 * last looked, and its lookups would be planned for the size it was.
 */
async function refreshStatisticsAfter(db: Kysely<Database>, batches: number): Promise<void> {
  if (isPowerOfFour(batches)) await analyzeCustomerTables(db)
}

async function withRetries(work: () => Promise<boolean>): Promise<boolean> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await work()
    } catch (error) {
      if (attempt >= BATCH_ATTEMPTS || !isRetryableConflict(error)) throw error
    }
  }
}

/** A promise and its resolve function (Promise.withResolvers, which Node 20 lacks). */
function settleable<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve: (value: T) => void = () => undefined
  const promise = new Promise<T>((settle) => {
    resolve = settle
  })
  return { promise, resolve }
}

/** A batch found that the batch before it did not commit: it rolled back, to be tried again. */
class PreviousBatchLost extends Error {}

/** What an overlapping batch tells the loop that started it, as soon as it knows. */
interface BatchProgress {
  /** Its last staged row; undefined when no row was left. */
  read: (lastRow: number | undefined) => void
  /** Its customers are written: the next batch may start. */
  written: () => void
}

/**
 * A batch of a create import that overlaps the one before it (after row `previousAfterRow`):
 * the rows after `afterRow`, applied in one transaction that records them only once the
 * previous batch's transaction has ended and moved `processed` to `afterRow` (else it rolls
 * back: PreviousBatchLost). Started once the previous batch's customers are written, its own
 * customers insert then waits for that batch's commit on the business's counter rows, so the
 * two overlap by one insert's index work and no more.
 */
async function applyBatchAfter(
  db: Kysely<Database>,
  businessId: number,
  importId: number,
  country: CountryCode,
  batch: { afterRow: number; previousAfterRow: number | undefined },
  progress: BatchProgress,
): Promise<void> {
  const trx = await db.startTransaction().execute()
  try {
    await lockImportBatch(trx, importId, batch.afterRow)
    const job = await findImport(trx, businessId, importId)
    const staged = job
      ? await readImportRows(trx, businessId, importId, batch.afterRow, IMPORT_BATCH_ROWS)
      : []
    const last = staged.at(-1)
    progress.read(last?.row_number)
    if (!job || !last) {
      await trx.rollback().execute()
      return
    }
    const columns = job.columns as ImportColumn[]
    const rows = staged.map((row) => readRow(columns, row.cells, row.row_number, country))
    const applied = await applyRows(trx, job, rows, progress.written)
    if (batch.previousAfterRow !== undefined) {
      await lockImportBatch(trx, importId, batch.previousAfterRow)
    }
    const current = await findImport(trx, businessId, importId, { lock: true })
    if (current?.processed !== batch.afterRow) throw new PreviousBatchLost()
    await recordBatch(trx, current, { lastRow: last.row_number, ...applied })
    await trx.commit().execute()
  } catch (error) {
    await trx
      .rollback()
      .execute()
      .catch(() => undefined)
    throw error
  }
}

/**
 * A create import's batches from row `afterRow` on, two at a time (applyBatchAfter): a batch
 * starts when the one before has written its customers, and at most two are in flight. Every
 * batch started has ended when this returns or throws (the first failure of any).
 * `completed` runs after each batch that committed while another was in flight.
 */
async function applyOverlappingBatches(
  db: Kysely<Database>,
  businessId: number,
  importId: number,
  country: CountryCode,
  afterRow: number,
  completed: () => Promise<void>,
  signal: AbortSignal | undefined,
): Promise<void> {
  const started: Promise<void>[] = []
  let previous: { afterRow: number; done: Promise<void> } | undefined
  let next = afterRow
  let stopped: unknown
  try {
    for (;;) {
      const read = settleable<number | undefined>()
      const written = settleable<undefined>()
      const done = applyBatchAfter(
        db,
        businessId,
        importId,
        country,
        { afterRow: next, previousAfterRow: previous?.afterRow },
        { read: read.resolve, written: () => written.resolve(undefined) },
      )
      const ended = () => {
        read.resolve(undefined)
        written.resolve(undefined)
      }
      done.then(ended, ended)
      started.push(done)
      const lastRow = await read.promise
      if (lastRow === undefined) break
      await written.promise
      if (previous) {
        await previous.done
        await completed()
      }
      signal?.throwIfAborted()
      previous = { afterRow: next, done }
      next = lastRow
    }
  } catch (error) {
    stopped = error
  }
  const failed = (await Promise.allSettled(started)).find((result) => result.status === 'rejected')
  if (failed) throw failed.reason
  if (stopped !== undefined) throw stopped
}

/**
 * A create import (not a dry run): its batches overlapping, from the last committed batch on; a failure that may pass (a conflict,
 * or a batch whose predecessor rolled back) starts again from there, BATCH_ATTEMPTS times in a
 * row at most.
 */
async function runOverlapping(
  db: Kysely<Database>,
  businessId: number,
  importId: number,
  country: CountryCode,
  signal: AbortSignal | undefined,
): Promise<void> {
  let batches = 0
  let failures = 0
  for (;;) {
    const job = await findImport(db, businessId, importId)
    if (!job) return
    try {
      await applyOverlappingBatches(
        db,
        businessId,
        importId,
        country,
        job.processed,
        async () => {
          batches += 1
          failures = 0
          await refreshStatisticsAfter(db, batches)
        },
        signal,
      )
      return
    } catch (error) {
      failures += 1
      const passing = error instanceof PreviousBatchLost || isRetryableConflict(error)
      if (failures >= BATCH_ATTEMPTS || !passing) throw error
    }
  }
}

/**
 * The import job: `running`, then every staged row applied a batch at a time, then
 * `succeeded`. Its changes are recorded as made by the user who uploaded the file, under the
 * upload's request id. `signal` stops it between batches (the queue is stopping): the next
 * attempt resumes after the last committed batch. A create import's batches overlap two at a
 * time (on PGlite, one connection, they follow each other).
 */
export async function runImport(
  db: Kysely<Database>,
  businessId: number,
  importId: number,
  signal?: AbortSignal,
): Promise<{ processed: number } | undefined> {
  const job = await findImport(db, businessId, importId)
  if (!job || job.status === 'succeeded' || job.status === 'failed') return undefined
  const context = { actor: `user:${job.created_by}`, requestId: job.request_id }
  return runAs(context, async () => {
    await markImportRunning(db, businessId, importId)
    const country = await businessCountry(db, businessId)
    if (job.mode === 'create' && !job.dry_run) {
      await runOverlapping(db, businessId, importId, country, signal)
    } else {
      for (let batches = 1; ; batches += 1) {
        if (!(await withRetries(() => applyNextBatch(db, businessId, importId, country)))) break
        await refreshStatisticsAfter(db, batches)
        signal?.throwIfAborted()
      }
    }
    await finishImport(db, businessId, importId, 'succeeded')
    const done = await findImport(db, businessId, importId)
    return { processed: done?.processed ?? 0 }
  })
}

/**
 * The import's job gave up after its retries: the import failed (what it applied stays) and the
 * rows it did not apply leave staging (a file's personal data is not kept aside).
 */
export async function failImport(
  db: Kysely<Database>,
  businessId: number,
  importId: number,
): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await finishImport(trx, businessId, importId, 'failed')
    await deleteImportRows(trx, businessId, importId, { afterRow: 0, lastRow: IMPORT_MAX_ROWS })
  })
}
