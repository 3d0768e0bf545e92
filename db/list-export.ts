import { sql, type Selectable } from 'kysely'
import type {
  CustomersTable,
  CustomerPurchaseHistoryTable,
  CustomerType,
  RepeatFrequency,
} from './database.js'
import type { Executor } from './executor.js'

/** What one export batch asks for: the list's filters and order, after a keyset position. */
export interface ExportBatchQuery {
  sortBy: 'created_at' | 'name' | 'id'
  sortOrder: 'asc' | 'desc'
  isActive: boolean
  customerType?: CustomerType
  /** Rows strictly after this sort key (as text) and id, in the export's order. */
  after?: { key: string; id: number }
  limit: number
}

/** What an export row needs of a customer and its purchase history (SPEC's columns). */
export type ExportBatchRow = Pick<
  Selectable<CustomersTable>,
  'id' | 'name' | 'phone' | 'email' | 'address' | 'customer_type' | 'is_active' | 'created_at'
> &
  Pick<
    Selectable<CustomerPurchaseHistoryTable>,
    'total_purchases' | 'total_spent' | 'customer_lifetime_value' | 'last_purchase_date'
  > & { repeat_frequency: RepeatFrequency; sort_key: string }

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
 * `after`, each with its purchase figures, in one statement that walks the list's index from the
 * position (keyset), so every batch costs the same however deep the export is.
 */
export async function exportBatch(
  db: Executor,
  businessId: number,
  query: ExportBatchQuery,
): Promise<ExportBatchRow[]> {
  const sort = SORT_KEYS[query.sortBy]
  const direction = query.sortOrder === 'asc' ? sql`asc` : sql`desc`
  let rows = db
    .selectFrom('customers as c')
    .leftJoin('customer_purchase_history as h', (join) =>
      join.onRef('h.business_id', '=', 'c.business_id').onRef('h.customer_id', '=', 'c.id'),
    )
    .select([
      'c.id',
      'c.name',
      'c.phone',
      'c.email',
      'c.address',
      'c.customer_type',
      'c.is_active',
      'c.created_at',
      'h.last_purchase_date',
    ])
    .select([
      sql<number>`coalesce(h.total_purchases, 0)`.as('total_purchases'),
      sql<string>`coalesce(h.total_spent, 0.00)`.as('total_spent'),
      sql<string>`coalesce(h.customer_lifetime_value, 0.00)`.as('customer_lifetime_value'),
      sql<RepeatFrequency>`coalesce(h.repeat_frequency, 'new')`.as('repeat_frequency'),
      sql<string>`${sort.asText}`.as('sort_key'),
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
  return rows
    .orderBy(sql`${sort.expression} ${direction}`)
    .orderBy(sql`c.id ${direction}`)
    .limit(query.limit)
    .execute()
}
