import { sql, type RawBuilder, type Selectable } from 'kysely'
import { NET_AMOUNT } from './customer-sales.js'
import type { CustomerPurchaseHistoryTable } from './database.js'
import type { Executor } from './executor.js'
import { compiledOnce } from './compiled-once.js'
import { executeFixedPlan } from './prepared-statements.js'

export type PurchaseHistoryRow = Selectable<CustomerPurchaseHistoryTable>

export async function insertEmptyPurchaseHistory(
  db: Executor,
  businessId: number,
  customerId: number,
): Promise<void> {
  await insertEmptyPurchaseHistories(db, businessId, [customerId])
}

/** Empty history rows for new customers, in one statement. */
export async function insertEmptyPurchaseHistories(
  db: Executor,
  businessId: number,
  customerIds: number[],
): Promise<void> {
  if (customerIds.length === 0) return
  await db
    .insertInto('customer_purchase_history')
    .values(customerIds.map((customerId) => ({ business_id: businessId, customer_id: customerId })))
    .execute()
}

/** Locks the customer's history row: the sales feed's per-customer lock (see sale-event-intake). */
export async function lockPurchaseHistory(
  db: Executor,
  businessId: number,
  customerId: number,
): Promise<void> {
  const query = sql`select 1 from customer_purchase_history
    where business_id = ${businessId} and customer_id = ${customerId}
    for update`
  await executeFixedPlan(db, query.compile(db))
}

export async function findPurchaseHistory(
  db: Executor,
  businessId: number,
  customerId: number,
): Promise<PurchaseHistoryRow | undefined> {
  return db
    .selectFrom('customer_purchase_history')
    .selectAll()
    .where('business_id', '=', businessId)
    .where('customer_id', '=', customerId)
    .executeTakeFirst()
}

/** The one classification rule: 0 new, 1 one_time, 2–4 occasional, 5–9 regular, 10+ frequent. */
export function repeatFrequencyOf(purchases: RawBuilder<unknown>): RawBuilder<string> {
  return sql<string>`case
    when ${purchases} = 0 then 'new'
    when ${purchases} = 1 then 'one_time'
    when ${purchases} < 5 then 'occasional'
    when ${purchases} < 10 then 'regular'
    else 'frequent' end`
}

/** Whose history rows `freshFromLedger` computes. */
type LedgerScope =
  /** Every row of the business, or one customer's. */
  | { kind: 'history'; customerId?: number }
  /** Customers from this id on that have no history row yet (a bulk load). */
  | { kind: 'new customers'; fromId: number }

/**
 * `fresh`: history rows as the ledger says they should be — completed sales that were not
 * voided count, refunds are netted.
 */
function freshFromLedger(
  businessId: number,
  scope: LedgerScope = { kind: 'history' },
): RawBuilder<unknown> {
  const customerId = scope.kind === 'history' ? scope.customerId : undefined
  const oneSale = customerId === undefined ? sql`` : sql`and customer_id = ${customerId}`
  const rows =
    scope.kind === 'history'
      ? sql`(select customer_id from customer_purchase_history
          where business_id = ${businessId} ${oneSale}) h`
      : sql`(select id as customer_id from customers c
          where business_id = ${businessId} and id >= ${scope.fromId}
            and not exists (select 1 from customer_purchase_history x
              where x.business_id = c.business_id and x.customer_id = c.id)) h`
  return sql`totals as (
      select customer_id, count(*)::int as purchases, sum(${NET_AMOUNT}) as net,
        sum(items_count) as items, min(completed_at) as first, max(completed_at) as last
      from customer_sales
      where business_id = ${businessId} ${oneSale} and completed_at is not null and not voided
      group by customer_id
    ), counted as (
      select h.customer_id, coalesce(t.purchases, 0) as purchases, coalesce(t.net, 0) as net,
        coalesce(t.items, 0) as items, t.first, t.last
      from ${rows} left join totals t on t.customer_id = h.customer_id
    ), fresh as (
      select customer_id,
        purchases as total_purchases,
        net::numeric(12, 2) as total_spent,
        items::numeric(12, 3) as total_items_bought,
        (case when purchases > 0 then round(net / purchases, 2) else 0 end)::numeric(12, 2)
          as avg_transaction_value,
        first as first_purchase_date,
        last as last_purchase_date,
        purchases >= 2 as is_repeat_customer,
        ${repeatFrequencyOf(sql`purchases`)} as repeat_frequency,
        net::numeric(12, 2) as customer_lifetime_value
      from counted
    )`
}

const CACHED_COLUMNS = [
  'total_purchases',
  'total_spent',
  'total_items_bought',
  'avg_transaction_value',
  'first_purchase_date',
  'last_purchase_date',
  'is_repeat_customer',
  'repeat_frequency',
  'customer_lifetime_value',
] as const

/** `(alias.total_purchases, alias.total_spent, …)` */
const cachedTuple = (alias: string): RawBuilder<unknown> =>
  sql`(${sql.join(CACHED_COLUMNS.map((column) => sql.ref(`${alias}.${column}`)))})`

/**
 * Rewrites the cache rows of the business (or of one customer) that differ from the ledger,
 * and the preferences' average_spend with them. Returns how many history rows changed.
 */
export async function recomputePurchaseHistory(
  db: Executor,
  businessId: number,
  customerId?: number,
): Promise<number> {
  const columns = sql`(${sql.join(CACHED_COLUMNS.map((column) => sql.ref(column)))})`
  const query = sql<{
    changed: number
  }>`with ${freshFromLedger(businessId, { kind: 'history', customerId })},
    history as (
      update customer_purchase_history h set ${columns} = ${cachedTuple('f')}, updated_at = now()
      from fresh f
      where h.business_id = ${businessId} and h.customer_id = f.customer_id
        and ${cachedTuple('h')} is distinct from ${cachedTuple('f')}
      returning h.customer_id
    ),
    preferences as (
      update customer_preferences p
      set average_spend = f.avg_transaction_value, updated_at = now()
      from fresh f
      where p.business_id = ${businessId} and p.customer_id = f.customer_id
        and p.average_spend is distinct from f.avg_transaction_value
    )
    select count(*)::int as changed from history`
  // One customer's recomputation (every sales event) is a keyed lookup; a whole business's is not.
  const rows =
    customerId === undefined
      ? (await query.execute(db)).rows
      : await executeFixedPlan(db, query.compile(db))
  return rows[0]?.changed ?? 0
}

/**
 * History rows, computed from the ledger, for the customers from `fromId` on that have none:
 * a bulk load's one insert, instead of empty rows and a recomputation that rewrites them all.
 */
export async function insertPurchaseHistoryFromLedger(
  db: Executor,
  businessId: number,
  fromId: number,
): Promise<void> {
  const columns = sql`${sql.join(CACHED_COLUMNS.map((column) => sql.ref(column)))}`
  const values = sql`${sql.join(CACHED_COLUMNS.map((column) => sql.ref(`f.${column}`)))}`
  await sql`with ${freshFromLedger(businessId, { kind: 'new customers', fromId })}
    insert into customer_purchase_history
      (business_id, customer_id, is_active, created_at, updated_at, ${columns})
    select c.business_id, c.id, c.is_active, c.created_at, c.created_at, ${values}
    from fresh f join customers c on c.business_id = ${businessId} and c.id = f.customer_id`.execute(
    db,
  )
}

export interface StaleHistory {
  customer_id: number
  cached: Record<string, unknown>
  fresh: Record<string, unknown>
}

/** Cache rows (or average_spend values) that differ from a recomputation from the ledger. */
export async function findStalePurchaseHistory(
  db: Executor,
  businessId: number,
): Promise<StaleHistory[]> {
  const result = await sql<StaleHistory>`with ${freshFromLedger(businessId)}
    select h.customer_id,
      to_jsonb(h) - 'id' - 'business_id' - 'customer_id' - 'created_at' - 'updated_at'
        || jsonb_build_object('average_spend', p.average_spend) as cached,
      to_jsonb(f) - 'customer_id'
        || jsonb_build_object('average_spend', f.avg_transaction_value) as fresh
    from customer_purchase_history h
    join fresh f on f.customer_id = h.customer_id
    join customer_preferences p on p.business_id = h.business_id and p.customer_id = h.customer_id
    where h.business_id = ${businessId}
      and (${cachedTuple('h')} is distinct from ${cachedTuple('f')}
        or p.average_spend is distinct from f.avg_transaction_value)
    order by h.customer_id`.execute(db)
  return result.rows
}

/** Compiled once and bound per call (db/compiled-once.ts): the metrics read is a hot path. */
const metricsQuery = compiledOnce((db: Executor, businessId: number, customerId: number) =>
  db
    .selectFrom('customers as c')
    .innerJoin('customer_purchase_history as h', (join) =>
      join.onRef('h.business_id', '=', 'c.business_id').onRef('h.customer_id', '=', 'c.id'),
    )
    .innerJoin('customer_preferences as p', (join) =>
      join.onRef('p.business_id', '=', 'c.business_id').onRef('p.customer_id', '=', 'c.id'),
    )
    .select([
      'c.id as customer_id',
      'c.name',
      'c.customer_type',
      'c.created_at',
      'c.phone',
      'c.email',
      'c.prefer_sms',
      'c.prefer_email',
      'c.prefer_call',
      'h.total_purchases',
      'h.total_spent',
      'h.avg_transaction_value',
      'h.total_items_bought',
      'h.first_purchase_date',
      'h.last_purchase_date',
      'h.is_repeat_customer',
      'h.repeat_frequency',
      'h.customer_lifetime_value',
      'p.preferred_payment',
      'p.favorite_products',
      'p.can_receive_offers',
      'p.can_receive_loyalty',
      'p.do_not_contact',
    ])
    .where('c.business_id', '=', businessId)
    .where('c.id', '=', customerId),
)

/** Metrics of one customer: the customer, its preferences and its history in one row. */
export async function findMetricsRow(db: Executor, businessId: number, customerId: number) {
  const [row] = await executeFixedPlan(db, metricsQuery(db, businessId, customerId))
  return row
}
export type MetricsRow = NonNullable<Awaited<ReturnType<typeof findMetricsRow>>>

/** Active customers with at least `minPurchases` purchases, by total spent, ties by id. */
export async function listRepeatCustomers(
  db: Executor,
  businessId: number,
  query: { minPurchases: number; limit: number; offset: number },
) {
  return db
    .selectFrom('customer_purchase_history as h')
    .innerJoin('customers as c', (join) =>
      join.onRef('c.business_id', '=', 'h.business_id').onRef('c.id', '=', 'h.customer_id'),
    )
    .selectAll('c')
    .select([
      'h.total_purchases',
      'h.total_spent',
      'h.avg_transaction_value',
      'h.last_purchase_date',
      'h.repeat_frequency',
      'h.customer_lifetime_value',
    ])
    .where('h.business_id', '=', businessId)
    .where('h.total_purchases', '>=', query.minPurchases)
    .where('c.is_active', '=', true)
    .orderBy('h.total_spent', 'desc')
    .orderBy('h.customer_id', 'asc')
    .limit(query.limit)
    .offset(query.offset)
    .execute()
}
export type RepeatCustomerRow = Awaited<ReturnType<typeof listRepeatCustomers>>[number]

/**
 * Counts over the business: all customers, and the active ones by class. Read from
 * customer_stats (a few dozen rows kept by triggers), never from the million customers.
 */
export async function customerAnalytics(db: Executor, businessId: number) {
  const activeIn = (frequencies: string[]) =>
    sql<number>`coalesce(sum(customers) filter (where is_active and repeat_frequency in (${sql.join(frequencies)})), 0)::int8`
  const query = db
    .selectFrom('customer_stats')
    .select([
      sql<number>`coalesce(sum(customers), 0)::int8`.as('total_customers'),
      sql<number>`coalesce(sum(customers) filter (where is_active), 0)::int8`.as(
        'active_customers',
      ),
      activeIn(['occasional', 'regular', 'frequent']).as('repeat_customers'),
      sql<string>`round(coalesce(sum(lifetime_value) filter (where is_active)
        / nullif(sum(customers) filter (where is_active), 0), 0), 2)`.as('average_lifetime_value'),
      activeIn(['new']).as('new'),
      activeIn(['one_time']).as('one_time'),
      activeIn(['occasional']).as('occasional'),
      activeIn(['regular']).as('regular'),
      activeIn(['frequent']).as('frequent'),
    ])
    .where('business_id', '=', businessId)
  const [row] = await executeFixedPlan(db, query.compile())
  if (!row) throw new Error('an aggregate without group by returned no row')
  return row
}
