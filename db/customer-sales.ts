import { sql, type Selectable } from 'kysely'
import type { CustomerSalesTable } from './database.js'
import type { Executor } from './executor.js'
import { executeFixedPlan } from './prepared-statements.js'

export type SaleRow = Selectable<CustomerSalesTable>

/**
 * The advisory lock key of one payer of one business. The sales feed takes its lock before
 * looking for the payer's customer, and a customer write that gives or takes that phone takes
 * it in its lock step (db/customer-duplicates.ts `lockContactKeys`) before attaching the
 * payer's waiting sales, so neither can miss the other's commit.
 */
export const payerLockKey = (businessId: number, sha256: string): string =>
  `payer:${businessId}:${sha256}`

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
  // One keyed probe per payer (a correlated subquery): its equality is always an index condition
  // on customer_sales_unattributed. With `= any(…)` or a join the planner may scan the index by
  // business_id alone and filter, when its statistics say no sale is waiting (a bulk of waiting
  // sales since the last analyze): 370 ms per create with 500,000 waiting, measured.
  const { rows } = await sql<{ sha256: string }>`select distinct
      encode(decode(h, 'hex'), 'hex') as sha256
    from unnest(${sha256s}::text[]) h
    where (select true from customer_sales
      where business_id = ${businessId} and customer_id is null
        and payer_phone_sha256 = decode(h, 'hex')
      limit 1)`.execute(db)
  return new Set(rows.map((row) => row.sha256))
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
