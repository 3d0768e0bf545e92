import { sql, type Selectable } from 'kysely'
import type { CustomerSalesTable } from './database.js'
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
