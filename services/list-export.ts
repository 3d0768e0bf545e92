import { stringify } from 'csv-stringify/sync'
import { exportBatch, type ExportBatchQuery, type ExportBatchRow } from '../db/list-export.js'
import type { CustomerType } from '../db/database.js'
import type { Executor } from '../db/executor.js'
import type { CustomerExportRow } from '../generated/schemas/CustomerExportRow.js'
import { loyaltyTier } from './representations.js'

/** Customers read per statement: one keyset batch, and one chunk of the answer. */
export const EXPORT_BATCH_SIZE = 1000

export type ExportFormat = 'csv' | 'ndjson'

/** Customers per piece of text handed to the stream (a batch is several pieces). */
const PIECE_ROWS = 100

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

/** SPEC's export columns, in order: the CSV's header and the fields of each NDJSON object. */
export const EXPORT_COLUMNS = [
  'id',
  'name',
  'phone',
  'email',
  'address',
  'customer_type',
  'is_active',
  'created_at',
  'total_purchases',
  'total_spent',
  'customer_lifetime_value',
  'last_purchase_date',
  'loyalty_tier',
] as const satisfies readonly (keyof CustomerExportRow)[]

/** Free text a person typed: the only cells that could hold a spreadsheet formula. */
const FREE_TEXT_COLUMNS = new Set<string>(['name', 'email', 'address'])

/** What a spreadsheet would read as a formula (OWASP's list: = + - @, tab, carriage return). */
const FORMULA_START = /^[=+\-@\t\r]/

/** A cell a spreadsheet shows as text: a leading `'` when it would otherwise be a formula. */
export function spreadsheetSafe(text: string): string {
  return FORMULA_START.test(text) ? `'${text}` : text
}

/** A row as the export shows it; its fields in EXPORT_COLUMNS' order, which NDJSON keeps. */
export function toExportRow(row: ExportBatchRow): CustomerExportRow {
  return {
    id: row.id,
    name: row.name,
    phone: row.phone,
    email: row.email,
    address: row.address,
    customer_type: row.customer_type,
    is_active: row.is_active,
    created_at: row.created_at.toISOString(),
    total_purchases: row.total_purchases,
    total_spent: row.total_spent,
    customer_lifetime_value: row.customer_lifetime_value,
    last_purchase_date: row.last_purchase_date ? row.last_purchase_date.toISOString() : null,
    loyalty_tier: loyaltyTier(row.repeat_frequency),
  }
}

/** A row as CSV cells: text as it is (free text made spreadsheet-safe), null as an empty cell. */
function csvCells(row: CustomerExportRow): (string | null)[] {
  return EXPORT_COLUMNS.map((column) => {
    const value = row[column]
    if (value === null) return null
    if (typeof value === 'string')
      return FREE_TEXT_COLUMNS.has(column) ? spreadsheetSafe(value) : value
    return String(value)
  })
}

/** UTF-8 byte-order mark: spreadsheet programs then read the file as UTF-8. */
const BOM = '\uFEFF'

function render(rows: CustomerExportRow[], format: ExportFormat, first: boolean): string {
  if (format === 'ndjson') return rows.map((row) => `${JSON.stringify(row)}\n`).join('')
  // RFC 4180: CRLF, quotes only where needed (a comma, a quote, a line break), quotes doubled.
  const csv = stringify(rows.map(csvCells), {
    header: first,
    columns: [...EXPORT_COLUMNS],
    record_delimiter: 'windows',
    // A lone LF or CR in a field (a two-line address) is a line break too: quote it.
    quoted_match: /[\r\n]/,
  })
  return first ? `${BOM}${csv}` : csv
}

/**
 * Every customer of the business matching `query`, with its purchase figures, as the text of a
 * CSV or NDJSON file, in pieces of PIECE_ROWS customers (the CSV's first piece has the header,
 * even with no customer). The first batch is
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
    sortBy: query.sort_by ?? 'created_at',
    sortOrder: query.sort_order ?? 'desc',
    isActive: query.is_active ?? true,
    customerType: query.filter_type,
    limit: batchSize,
  }
  const firstBatch = await exportBatch(db, businessId, scope)

  async function* chunks(): AsyncGenerator<ExportChunk, void, undefined> {
    let batch = firstBatch
    let first = true
    for (;;) {
      // Pieces of a few dozen KB: short-lived strings the young generation collects at once,
      // where a batch-sized one would wait in the old generation for a full collection.
      for (let start = 0; start < batch.length || first; start += PIECE_ROWS) {
        const rows = batch.slice(start, start + PIECE_ROWS)
        const text = render(
          rows.map((row) => toExportRow(row)),
          format,
          first,
        )
        first = false
        if (text !== '') yield { text, customers: rows.length }
      }
      const last = batch.at(-1)
      if (batch.length < batchSize || !last) return
      batch = await exportBatch(db, businessId, {
        ...scope,
        after: { key: last.sort_key, id: last.id },
      })
    }
  }
  return chunks()
}
