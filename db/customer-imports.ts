import { sql, type Selectable } from 'kysely'
import type { CustomerImportsTable, ImportMode, ImportStatus } from './database.js'
import type { Executor } from './executor.js'

export type ImportRow = Selectable<CustomerImportsTable>

/** A new import, queued, with no rows counted yet (its file is staged next, in its transaction). */
export async function insertImport(
  db: Executor,
  businessId: number,
  input: {
    mode: ImportMode
    dry_run: boolean
    created_by: number
    request_id: string | null
    columns: string[]
  },
): Promise<ImportRow> {
  return db
    .insertInto('customer_imports')
    .values({ ...input, business_id: businessId, rows: 0 })
    .returningAll()
    .executeTakeFirstOrThrow()
}

export async function setImportRows(
  db: Executor,
  businessId: number,
  importId: number,
  rows: number,
): Promise<ImportRow> {
  return db
    .updateTable('customer_imports')
    .set({ rows })
    .where('business_id', '=', businessId)
    .where('id', '=', importId)
    .returningAll()
    .executeTakeFirstOrThrow()
}

/**
 * The import; with `lock`, its row locked until the transaction ends: one batch of an import at
 * a time, even when two attempts of its job overlap (one that expired while still running, say).
 */
export async function findImport(
  db: Executor,
  businessId: number,
  importId: number,
  options: { lock?: boolean } = {},
): Promise<ImportRow | undefined> {
  const query = db
    .selectFrom('customer_imports')
    .selectAll()
    .where('business_id', '=', businessId)
    .where('id', '=', importId)
  return (options.lock ? query.forUpdate() : query).executeTakeFirst()
}

/**
 * Marks the batch of the import that starts after row `afterRow` as in flight, until the
 * transaction ends; taken again by the batch after it, it waits for that end.
 */
export async function lockImportBatch(
  db: Executor,
  importId: number,
  afterRow: number,
): Promise<void> {
  const key = `import:${importId}:${afterRow}`
  await sql`select pg_advisory_xact_lock(hashtextextended(${key}, 0))`.execute(db)
}

/** Counts a batch: `processed` moves to its last row, the outcomes are added. */
export async function countBatch(
  db: Executor,
  businessId: number,
  importId: number,
  batch: { lastRow: number; created: number; updated: number; skipped: number; failed: number },
): Promise<void> {
  await db
    .updateTable('customer_imports')
    .set((eb) => ({
      processed: batch.lastRow,
      created: eb('created', '+', batch.created),
      updated: eb('updated', '+', batch.updated),
      skipped: eb('skipped', '+', batch.skipped),
      failed_rows: eb('failed_rows', '+', batch.failed),
    }))
    .where('business_id', '=', businessId)
    .where('id', '=', importId)
    .execute()
}

/** `running` (from `queued`), since the first time a worker took it. */
export async function markImportRunning(
  db: Executor,
  businessId: number,
  importId: number,
): Promise<void> {
  await db
    .updateTable('customer_imports')
    .set({ status: 'running', started_at: sql`coalesce(started_at, now())` })
    .where('business_id', '=', businessId)
    .where('id', '=', importId)
    .where('status', 'in', ['queued', 'running'])
    .execute()
}

/** The end of an import: `succeeded` or `failed`, once (a finished import stays as it ended). */
export async function finishImport(
  db: Executor,
  businessId: number,
  importId: number,
  status: Extract<ImportStatus, 'succeeded' | 'failed'>,
): Promise<void> {
  await db
    .updateTable('customer_imports')
    .set({ status, finished_at: sql`now()` })
    .where('business_id', '=', businessId)
    .where('id', '=', importId)
    .where('status', 'in', ['queued', 'running'])
    .execute()
}
