import { sql } from 'kysely'
import type { Executor } from './executor.js'

/**
 * Stages data rows of an import's file, numbered from `firstRowNumber`, in one statement (the
 * rows travel as one JSON array of arrays of cells: they need not have the same length).
 */
export async function stageImportRows(
  db: Executor,
  businessId: number,
  importId: number,
  firstRowNumber: number,
  rows: string[][],
): Promise<void> {
  if (rows.length === 0) return
  await sql`insert into customer_import_rows (business_id, import_id, row_number, cells)
    select ${businessId}::bigint, ${importId}::bigint, ${firstRowNumber}::int + r.ordinality::int - 1,
      array(select jsonb_array_elements_text(r.value))
    from jsonb_array_elements(${JSON.stringify(rows)}::jsonb) with ordinality r`.execute(db)
}

/** The next `limit` staged rows after row `afterRow`, in file order. */
export async function readImportRows(
  db: Executor,
  businessId: number,
  importId: number,
  afterRow: number,
  limit: number,
): Promise<{ row_number: number; cells: string[] }[]> {
  return db
    .selectFrom('customer_import_rows')
    .select(['row_number', 'cells'])
    .where('business_id', '=', businessId)
    .where('import_id', '=', importId)
    .where('row_number', '>', afterRow)
    .orderBy('row_number')
    .limit(limit)
    .execute()
}

/**
 * Removes the staged rows after `afterRow` up to `lastRow`: applied (or checked), they are not
 * needed again. The lower bound keeps each batch's delete from walking the index entries of the
 * rows earlier batches removed (dead until a vacuum: 2 ms per batch at first, 45 ms at 100,000).
 */
export async function deleteImportRows(
  db: Executor,
  businessId: number,
  importId: number,
  rows: { afterRow: number; lastRow: number },
): Promise<void> {
  await db
    .deleteFrom('customer_import_rows')
    .where('business_id', '=', businessId)
    .where('import_id', '=', importId)
    .where('row_number', '>', rows.afterRow)
    .where('row_number', '<=', rows.lastRow)
    .execute()
}
