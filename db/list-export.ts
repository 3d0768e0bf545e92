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

type Customer = Selectable<CustomersTable>
type History = Selectable<CustomerPurchaseHistoryTable>

/** A customer with its purchase figures (zero when it has no history row) and its sort key. */
export type ExportBatchRow = Omit<Customer, 'phone_sha256'> &
  Pick<
    History,
    | 'total_purchases'
    | 'total_spent'
    | 'total_items_bought'
    | 'avg_transaction_value'
    | 'first_purchase_date'
    | 'last_purchase_date'
    | 'is_repeat_customer'
    | 'customer_lifetime_value'
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
 * `after`, each with its purchase history, in one statement that walks the list's index from the
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
      'c.business_id',
      'c.name',
      'c.phone',
      'c.email',
      'c.address',
      'c.customer_type',
      'c.is_active',
      'c.prefer_sms',
      'c.prefer_email',
      'c.prefer_call',
      'c.version',
      'c.merged_into',
      'c.erased_at',
      'c.created_at',
      'c.updated_at',
      'h.first_purchase_date',
      'h.last_purchase_date',
    ])
    .select([
      sql<number>`coalesce(h.total_purchases, 0)`.as('total_purchases'),
      sql<string>`coalesce(h.total_spent, 0.00)`.as('total_spent'),
      sql<string>`coalesce(h.total_items_bought, 0.000)`.as('total_items_bought'),
      sql<string>`coalesce(h.avg_transaction_value, 0.00)`.as('avg_transaction_value'),
      sql<boolean>`coalesce(h.is_repeat_customer, false)`.as('is_repeat_customer'),
      sql<RepeatFrequency>`coalesce(h.repeat_frequency, 'new')`.as('repeat_frequency'),
      sql<string>`coalesce(h.customer_lifetime_value, 0.00)`.as('customer_lifetime_value'),
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
