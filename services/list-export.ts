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

/** What RFC 4180 quotes: a comma, a quote, a line break (a lone CR or LF is one too). */
const NEEDS_QUOTES = /[",\r\n]/

/** One CSV cell: null empty, free text spreadsheet-safe, quoted when needed, quotes doubled. */
function csvCell(value: CustomerExportRow[keyof CustomerExportRow], freeText: boolean): string {
  if (value === null) return ''
  if (typeof value !== 'string') return String(value)
  const text = freeText ? spreadsheetSafe(value) : value
  return NEEDS_QUOTES.test(text) ? `"${text.replaceAll('"', '""')}"` : text
}

function csvLine(row: CustomerExportRow): string {
  let line = ''
  for (const column of EXPORT_COLUMNS) {
    line += `${csvCell(row[column], FREE_TEXT_COLUMNS.has(column))},`
  }
  return `${line.slice(0, -1)}\r\n`
}

/** UTF-8 byte-order mark (spreadsheet programs then read the file as UTF-8), header, CRLF. */
const CSV_HEAD = `\uFEFF${EXPORT_COLUMNS.join(',')}\r\n`

/** Rows as text, each rendered straight into the piece: no per-piece arrays or stringifier. */
function render(rows: readonly ExportBatchRow[], format: ExportFormat, first: boolean): string {
  let text = first && format === 'csv' ? CSV_HEAD : ''
  for (const row of rows) {
    const exported = toExportRow(row)
    text += format === 'csv' ? csvLine(exported) : `${JSON.stringify(exported)}\n`
  }
  return text
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
        const text = render(rows, format, first)
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
