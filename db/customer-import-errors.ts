import type { Selectable } from 'kysely'
import type { CustomerImportErrorsTable } from './database.js'
import type { Executor } from './executor.js'

export type ImportErrorRow = Pick<
  Selectable<CustomerImportErrorsTable>,
  'row_number' | 'position' | 'column' | 'message'
>

export async function insertImportErrors(
  db: Executor,
  businessId: number,
  importId: number,
  errors: ImportErrorRow[],
): Promise<void> {
  if (errors.length === 0) return
  await db
    .insertInto('customer_import_errors')
    .values(errors.map((error) => ({ ...error, business_id: businessId, import_id: importId })))
    .execute()
}

/** The next `limit` problems after `after` (row, position), in row then column order. */
export async function listImportErrorsAfter(
  db: Executor,
  businessId: number,
  importId: number,
  after: { row: number; position: number } | undefined,
  limit: number,
): Promise<ImportErrorRow[]> {
  let query = db
    .selectFrom('customer_import_errors')
    .select(['row_number', 'position', 'column', 'message'])
    .where('business_id', '=', businessId)
    .where('import_id', '=', importId)
  if (after) {
    query = query.where((eb) =>
      eb(eb.refTuple('row_number', 'position'), '>', eb.tuple(after.row, after.position)),
    )
  }
  return query.orderBy('row_number').orderBy('position').limit(limit).execute()
}
