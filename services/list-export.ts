import {
  EXPORT_COLUMNS,
  exportBatch,
  type ExportBatchQuery,
  type ExportFormat,
} from '../db/list-export.js'
import type { CustomerType } from '../db/database.js'
import type { Executor } from '../db/executor.js'
import type { CustomerExportRow } from '../generated/schemas/CustomerExportRow.js'

export { EXPORT_COLUMNS, type ExportFormat }

// The columns the database renders are the document's export row, by name.
const columnsOfTheDocument: readonly (keyof CustomerExportRow)[] = EXPORT_COLUMNS
void columnsOfTheDocument

/**
 * Customers read per statement: one keyset batch, handed on as one piece of text (about 40 KB).
 * Measured on a million customers: 250 kept the process within 40 MB of idle and finished in
 * half a minute; 500 grew it by 78 MB (larger pieces, more young-generation growth), 100 took
 * twice the statements for 47 MB.
 */
export const EXPORT_BATCH_SIZE = 250

/** A piece of the file: the text of one batch, and how many customers it holds. */
export interface ExportChunk {
  text: string
  customers: number
}

/** The list's filters and order (GET /export takes the same as the list, without paging). */
export interface ExportQuery {
  sort_by?: 'created_at' | 'name' | 'id'
  sort_order?: 'asc' | 'desc'
  filter_type?: CustomerType
  is_active?: boolean
}

/** UTF-8 byte-order mark (spreadsheet programs then read the file as UTF-8), header, CRLF. */
const CSV_HEAD = `\uFEFF${EXPORT_COLUMNS.join(',')}\r\n`

/**
 * Every customer of the business matching `query`, with its purchase figures, as the text of a
 * CSV or NDJSON file, one piece per batch (the CSV's first piece has the header, even with no
 * customer). PostgreSQL renders the lines; the service only passes them on. The first batch is
 * read before this resolves (a database failure is still an ordinary error then); each next one
 * only when the caller asks for the next chunk, one keyset statement at a time, so memory holds
 * one batch whatever the size of the export and a slow reader slows the reading.
 */
export async function exportCustomers(
  db: Executor,
  businessId: number,
  query: ExportQuery,
  format: ExportFormat,
  batchSize = EXPORT_BATCH_SIZE,
): Promise<AsyncGenerator<ExportChunk, void, undefined>> {
  const scope: Omit<ExportBatchQuery, 'after'> = {
    format,
    sortBy: query.sort_by ?? 'created_at',
    sortOrder: query.sort_order ?? 'desc',
    isActive: query.is_active ?? true,
    customerType: query.filter_type,
    limit: batchSize,
  }
  const firstBatch = await exportBatch(db, businessId, scope)

  async function* chunks(): AsyncGenerator<ExportChunk, void, undefined> {
    let batch = firstBatch
    const head = format === 'csv' ? CSV_HEAD : ''
    if (head !== '' || batch.customers > 0) {
      yield { text: head + batch.text, customers: batch.customers }
    }
    while (batch.customers === batchSize && batch.last) {
      batch = await exportBatch(db, businessId, { ...scope, after: batch.last })
      if (batch.customers > 0) yield { text: batch.text, customers: batch.customers }
    }
  }
  return chunks()
}
