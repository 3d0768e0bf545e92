import { sql, type Selectable } from 'kysely'
import type { CustomerSalesTable, PayerMatch } from './database.js'
import type { Executor } from './executor.js'
import { executeFixedPlan } from './prepared-statements.js'

export type SaleRow = Selectable<CustomerSalesTable>

/** The sale, locked for the rest of the transaction; undefined when it was never reported. */
export async function lockSale(
  db: Executor,
  businessId: number,
  saleId: string,
): Promise<SaleRow | undefined> {
  return db
    .selectFrom('customer_sales')
    .selectAll()
    .where('business_id', '=', businessId)
    .where('sale_id', '=', saleId)
    .forUpdate()
    .executeTakeFirst()
}

/**
 * For an event that names no customer, in one round trip: the business exists from now on (a
 * walk-in's sale may be its first news), the sale's customer as it stands (a plain read, no
 * lock; undefined when the sale was never reported), and, with a payer, the payer's lock (see
 * `payerLockKey`), taken before the statement that looks the payer up starts.
 */
export async function startUnnamedSaleEvent(
  db: Executor,
  businessId: number,
  saleId: string,
  payerSha256: string | null,
): Promise<Pick<SaleRow, 'customer_id' | 'matched_by'> | undefined> {
  const lock =
    payerSha256 === null ? sql`null` : sql`(select 1 from ${payerLock(businessId, payerSha256)} l)`
  const query = sql<{
    reported: boolean
    customer_id: number | null
    matched_by: SaleRow['matched_by']
  }>`
    with business as (
      insert into businesses (id) values (${businessId}) on conflict (id) do nothing
    ), locked as (select ${lock} as payer)
    select s.sale_id is not null as reported, s.customer_id, s.matched_by
    from locked left join customer_sales s
      on s.business_id = ${businessId} and s.sale_id = ${saleId}`
  const [row] = await executeFixedPlan(db, query.compile(db))
  return row?.reported ? { customer_id: row.customer_id, matched_by: row.matched_by } : undefined
}

/**
 * Gives a locked sale that belongs to nobody its customer, and keeps the payer when the sale has
 * none yet. Only a sale without a customer changes hands here.
 */
export async function settleSaleOwner(
  db: Executor,
  businessId: number,
  saleId: string,
  owner: {
    customerId: number | null
    matchedBy: PayerMatch | null
    payer: { phone: string | null; sha256: string } | null
    /** The customer the event named, kept when the sale takes its owner from this event. */
    named: number | null
  },
): Promise<void> {
  const { customerId, matchedBy, payer, named } = owner
  await sql`update customer_sales set
      customer_id = coalesce(customer_id, ${customerId}::bigint),
      named_customer_id = case when customer_id is null then ${named}::bigint
        else named_customer_id end,
      matched_by = case when customer_id is null and ${customerId}::bigint is not null
        then ${matchedBy}::text else matched_by end,
      payer_phone = case when payer_phone_sha256 is null then ${payer?.phone ?? null}::varchar
        else payer_phone end,
      payer_phone_sha256 = coalesce(payer_phone_sha256, decode(${payer?.sha256 ?? null}::text, 'hex')),
      updated_at = now()
    where business_id = ${businessId} and sale_id = ${saleId}`.execute(db)
}

/**
 * The advisory lock key of one payer of one business. The sales feed takes its lock before
 * looking for the payer's customer, and a customer write that gives or takes that phone takes
 * it in its lock step (db/customer-duplicates.ts `lockContactKeys`) before attaching the
 * payer's waiting sales, so neither can miss the other's commit.
 */
export const payerLockKey = (businessId: number, sha256: string): string =>
  `payer:${businessId}:${sha256}`

const payerLock = (businessId: number, sha256: string) =>
  sql`pg_advisory_xact_lock(hashtextextended(${payerLockKey(businessId, sha256)}, 0))`

/**
 * Gives every sale of the business that waits for this payer to the customer; returns how many.
 * `matched_by` says which form of the payer matched: the number itself, or only its hash.
 */
export async function attachUnattributedSales(
  db: Executor,
  businessId: number,
  customerId: number,
  sha256: string,
): Promise<number> {
  const result = await sql`update customer_sales set
      customer_id = ${customerId},
      matched_by = case when payer_phone is null then 'phone_sha256' else 'phone' end,
      updated_at = now()
    where business_id = ${businessId} and customer_id is null
      and payer_phone_sha256 = decode(${sha256}::text, 'hex')`.execute(db)
  return Number(result.numAffectedRows ?? 0)
}

/** Which of these payers (SHA-256 hex) have sales of the business waiting for a customer. */
export async function payersWithWaitingSales(
  db: Executor,
  businessId: number,
  sha256s: string[],
): Promise<Set<string>> {
  if (sha256s.length === 0) return new Set()
  const { rows } = await sql<{ sha256: string }>`select distinct
      encode(payer_phone_sha256, 'hex') as sha256
    from customer_sales
    where business_id = ${businessId} and customer_id is null
      and payer_phone_sha256 = any(array(
        select decode(h, 'hex') from unnest(${sha256s}::text[]) h))`.execute(db)
  return new Set(rows.map((row) => row.sha256))
}

/** Records the completion of a sale whose refund or void arrived first. */
export async function completeSale(
  db: Executor,
  businessId: number,
  saleId: string,
  completion: {
    total_amount: string
    items_count: string
    payment_method: SaleRow['payment_method']
    completed_at: string
  },
): Promise<void> {
  await db
    .updateTable('customer_sales')
    .set({
      ...completion,
      // A refund held for an unknown sale is capped at the sale's total.
      refunded_amount: sql`least(refunded_amount, ${completion.total_amount}::numeric)`,
      updated_at: sql`now()`,
    })
    .where('business_id', '=', businessId)
    .where('sale_id', '=', saleId)
    .execute()
}

/** Adds a refund unless the refunds would exceed the sale's known total; false if refused. */
export async function addRefund(
  db: Executor,
  businessId: number,
  saleId: string,
  amount: string,
): Promise<boolean> {
  const refunded = await db
    .updateTable('customer_sales')
    .set({
      refunded_amount: sql`refunded_amount + ${amount}::numeric`,
      updated_at: sql`now()`,
    })
    .where('business_id', '=', businessId)
    .where('sale_id', '=', saleId)
    .where(
      sql<boolean>`(total_amount is null or refunded_amount + ${amount}::numeric <= total_amount)`,
    )
    .returning('sale_id')
    .executeTakeFirst()
  return refunded !== undefined
}

export async function voidSale(db: Executor, businessId: number, saleId: string): Promise<void> {
  await db
    .updateTable('customer_sales')
    .set({ voided: true, updated_at: sql`now()` })
    .where('business_id', '=', businessId)
    .where('sale_id', '=', saleId)
    .execute()
}

/** What a sale counts for: its total less refunds (a held refund never exceeds the total). */
export const NET_AMOUNT = sql`(total_amount - least(refunded_amount, total_amount))`

export interface SalesFilter {
  businessId: number
  customerId: number
  /** Inclusive bounds on completed_at. */
  from?: Date
  to?: Date
}

function completedSales(db: Executor, filter: SalesFilter) {
  let query = db
    .selectFrom('customer_sales')
    .where('business_id', '=', filter.businessId)
    .where('customer_id', '=', filter.customerId)
    .where('completed_at', 'is not', null)
  if (filter.from) query = query.where('completed_at', '>=', filter.from)
  if (filter.to) query = query.where('completed_at', '<=', filter.to)
  return query
}

/** Completed sales of a customer, newest first, with how many match and their summary. */
export async function listSales(
  db: Executor,
  filter: SalesFilter,
  page: { limit: number; offset: number },
) {
  // One customer's sales: keyed lookups, whatever the page and dates.
  const [rows, [summary]] = await Promise.all([
    executeFixedPlan(
      db,
      completedSales(db, filter)
        .selectAll()
        .orderBy('completed_at', 'desc')
        .orderBy('sale_id', 'desc')
        .limit(page.limit)
        .offset(page.offset)
        .compile(),
    ),
    executeFixedPlan(
      db,
      completedSales(db, filter)
        .select([
          sql<number>`count(*)`.as('total'),
          sql<number>`count(*) filter (where not voided)`.as('total_sales'),
          sql<string>`round(coalesce(sum(${NET_AMOUNT}) filter (where not voided), 0), 2)`.as(
            'total_amount',
          ),
          sql<string>`round(coalesce(avg(${NET_AMOUNT}) filter (where not voided), 0), 2)`.as(
            'avg_amount',
          ),
        ])
        .compile(),
    ),
  ])
  if (!summary) throw new Error('an aggregate without group by returned no row')
  return {
    rows,
    total: summary.total,
    totalSales: summary.total_sales,
    totalAmount: summary.total_amount,
    avgAmount: summary.avg_amount,
  }
}

/**
 * Every ledger row of the customer after the sale `afterSaleId`, by sale id (completed or not,
 * with the payer's phone): a keyset batch of an export.
 */
export async function listCustomerSalesAfter(
  db: Executor,
  businessId: number,
  customerId: number,
  afterSaleId: string,
  limit: number,
): Promise<SaleRow[]> {
  return db
    .selectFrom('customer_sales')
    .selectAll()
    .where('business_id', '=', businessId)
    .where('customer_id', '=', customerId)
    .where('sale_id', '>', afterSaleId)
    .orderBy('sale_id')
    .limit(limit)
    .execute()
}

/**
 * The erasure: the payer's phone (and its hash, from which the number can be found again)
 * leaves every sale of the customer, or that named it; the amounts stay (the shop's books).
 */
export async function erasePayers(
  db: Executor,
  businessId: number,
  customerId: number,
): Promise<void> {
  // How a sale was matched names the payer's phone only through it: it goes with the phone.
  await sql`update customer_sales set payer_phone = null, payer_phone_sha256 = null,
      matched_by = null
    where business_id = ${businessId}
      and (customer_id = ${customerId} or named_customer_id = ${customerId})
      and (payer_phone is not null or payer_phone_sha256 is not null)`.execute(db)
}
