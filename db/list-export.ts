import { sql, type RawBuilder } from 'kysely'
import type { CustomerType } from './database.js'
import type { Executor } from './executor.js'

export type ExportFormat = 'csv' | 'ndjson'

/** What one export batch asks for: the list's filters and order, after a keyset position. */
export interface ExportBatchQuery {
  format: ExportFormat
  sortBy: 'created_at' | 'name' | 'id'
  sortOrder: 'asc' | 'desc'
  isActive: boolean
  customerType?: CustomerType
  /** Rows strictly after this sort key (as text) and id, in the export's order. */
  after?: { key: string; id: number }
  limit: number
}

/**
 * One batch as one piece of the file: its lines (CSV with CRLF, NDJSON with LF), how many
 * customers they hold, and where the next batch starts (null when the batch is empty).
 */
export interface ExportBatch {
  text: string
  customers: number
  last: { key: string; id: number } | null
}

/**
 * SPEC's export columns, in order: the CSV's header and the fields of each NDJSON object. The
 * loyalty tier is the repeat frequency, as in `representations.loyaltyTier`.
 */
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
] as const

type ExportColumn = (typeof EXPORT_COLUMNS)[number]

/** `Date#toISOString`'s form, as the API shows times (payme_iso, migration 2026-12-03T1500). */
const iso = (value: RawBuilder<unknown>) => sql`payme_iso(${value})`

/** What a spreadsheet would read as a formula (OWASP's list: = + - @, tab, carriage return). */
const spreadsheetSafe = (text: RawBuilder<unknown>) =>
  sql`case when left(${text}, 1) in ('=', '+', '-', '@', chr(9), chr(13)) then '''' || ${text} else ${text} end`

/** RFC 4180: quoted when it holds a comma, a quote or a line break, quotes doubled; null empty. */
const csvText = (text: RawBuilder<unknown>) =>
  sql`case when ${text} is null then ''
    when ${text} ~ E'[",\\r\\n]' then '"' || replace(${text}, '"', '""') || '"'
    else ${text} end`

/**
 * Each column as text, for both formats: `value` is the column's text (null for a missing
 * value), `json` its JSON text. Free text a person typed is made spreadsheet-safe in CSV only.
 */
const COLUMNS: Record<ExportColumn, { value: RawBuilder<unknown>; freeText?: true; json?: 'raw' }> =
  {
    id: { value: sql`c.id::text`, json: 'raw' },
    name: { value: sql`c.name`, freeText: true },
    phone: { value: sql`c.phone` },
    email: { value: sql`c.email`, freeText: true },
    address: { value: sql`c.address`, freeText: true },
    customer_type: { value: sql`c.customer_type::text` },
    is_active: { value: sql`c.is_active::text`, json: 'raw' },
    created_at: { value: iso(sql`c.created_at`) },
    total_purchases: { value: sql`coalesce(h.total_purchases, 0)::text`, json: 'raw' },
    total_spent: { value: sql`coalesce(h.total_spent, 0.00)::text` },
    customer_lifetime_value: { value: sql`coalesce(h.customer_lifetime_value, 0.00)::text` },
    last_purchase_date: { value: iso(sql`h.last_purchase_date`) },
    loyalty_tier: { value: sql`coalesce(h.repeat_frequency, 'new')::text` },
  }

/** One CSV line, CRLF included. */
function csvLine(): RawBuilder<string> {
  const cells = EXPORT_COLUMNS.map((name) => {
    const { value, freeText } = COLUMNS[name]
    return csvText(freeText ? spreadsheetSafe(value) : value)
  })
  return sql<string>`concat_ws(',', ${sql.join(cells, sql`, `)}) || E'\\r\\n'`
}

/** One NDJSON line: the object's fields in EXPORT_COLUMNS' order, compact, LF included. */
function ndjsonLine(): RawBuilder<string> {
  const fields = EXPORT_COLUMNS.map((name, index) => {
    const { value, json } = COLUMNS[name]
    const text = json === 'raw' ? value : sql`to_json(${value})::text`
    return sql`${sql.lit(`${index === 0 ? '{' : ','}"${name}":`)} || coalesce(${text}, 'null')`
  })
  return sql<string>`${sql.join(fields, sql` || `)} || E'}\\n'`
}

/**
 * The list's sort keys on the customers table's alias (the history row has an `id` and a
 * `created_at` of its own); the same expressions as the list's indexes, which start
 * (business_id, is_active, key, id).
 */
const SORT_KEYS = {
  created_at: {
    expression: sql`c.created_at`,
    cast: sql`::timestamptz`,
    asText: sql`c.created_at::text`,
  },
  name: { expression: sql`lower(c.name)`, cast: sql``, asText: sql`lower(c.name)` },
  id: { expression: sql`c.id`, cast: sql`::bigint`, asText: sql`c.id::text` },
} as const

/**
 * One batch of an export: up to `limit` customers of the business in (sort key, id) order after
 * `after`, each with its purchase figures, rendered by PostgreSQL into the file's lines and
 * handed back as one text. One statement walks the list's index from the position (keyset), so
 * every batch costs the same however deep the export is; one row instead of a row per customer
 * leaves the service a single string to pass on, not thousands of short-lived objects.
 */
export async function exportBatch(
  db: Executor,
  businessId: number,
  query: ExportBatchQuery,
): Promise<ExportBatch> {
  const sort = SORT_KEYS[query.sortBy]
  const direction = query.sortOrder === 'asc' ? sql`asc` : sql`desc`
  const order = sql`${sort.expression} ${direction}, c.id ${direction}`
  let rows = db
    .selectFrom('customers as c')
    .leftJoin('customer_purchase_history as h', (join) =>
      join.onRef('h.business_id', '=', 'c.business_id').onRef('h.customer_id', '=', 'c.id'),
    )
    .select([
      'c.id',
      (query.format === 'csv' ? csvLine() : ndjsonLine()).as('line'),
      sql<string>`${sort.asText}`.as('sort_key'),
      sql<number>`row_number() over (order by ${order})`.as('position'),
    ])
    .where('c.business_id', '=', businessId)
    .where('c.is_active', '=', query.isActive)
  if (query.customerType) rows = rows.where('c.customer_type', '=', query.customerType)
  if (query.after) {
    const comparison = query.sortOrder === 'asc' ? sql`>` : sql`<`
    rows = rows.where(
      sql<boolean>`(${sort.expression}, c.id) ${comparison} (${query.after.key}${sort.cast}, ${query.after.id}::bigint)`,
    )
  }
  const batch = await db
    .selectFrom(rows.orderBy(order).limit(query.limit).as('b'))
    .select([
      sql<string | null>`string_agg(b.line, '' order by b.position)`.as('text'),
      sql<number>`count(*)::int`.as('customers'),
      sql<string | null>`(array_agg(b.sort_key order by b.position desc))[1]`.as('last_key'),
      sql<number | null>`(array_agg(b.id order by b.position desc))[1]`.as('last_id'),
    ])
    .executeTakeFirstOrThrow()
  return {
    text: batch.text ?? '',
    customers: batch.customers,
    last:
      batch.last_key !== null && batch.last_id !== null
        ? { key: batch.last_key, id: batch.last_id }
        : null,
  }
}
