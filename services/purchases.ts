import {
  customerAnalytics as analyticsRow,
  findMetricsRow,
  listRepeatCustomers as listRepeatCustomerRows,
} from '../db/customer-purchase-history.js'
import { listSales } from '../db/customer-sales.js'
import { customerExists } from '../db/customers.js'
import type { Executor } from '../db/executor.js'
import type { CustomerAnalytics } from '../generated/schemas/CustomerAnalytics.js'
import type { CustomerMetrics } from '../generated/schemas/CustomerMetrics.js'
import type { RepeatCustomer } from '../generated/schemas/RepeatCustomer.js'
import type { SalesHistory } from '../generated/schemas/SalesHistory.js'
import { isStorableDate } from '../lib/dates.js'
import { invalid, NotFound } from '../lib/domain-errors.js'
import { toAnalytics, toMetrics, toRepeatCustomer, toSale } from './representations.js'

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/
const DAY_MS = 24 * 60 * 60 * 1000

/** Inclusive bounds: a bare date starts at its first instant or ends at its last (UTC). */
function boundOf(value: string | undefined, edge: 'start' | 'end'): Date | undefined {
  if (value === undefined) return undefined
  const start = new Date(DATE_ONLY.test(value) ? `${value}T00:00:00.000Z` : value)
  if (!isStorableDate(start)) {
    throw invalid(`${edge}_date`, 'must be a real date in years 1 to 9999')
  }
  return edge === 'end' && DATE_ONLY.test(value) ? new Date(start.getTime() + DAY_MS - 1) : start
}

/** One customer's purchase metrics, loyalty tier and contact choices. */
export async function customerMetrics(
  db: Executor,
  businessId: number,
  customerId: number,
): Promise<CustomerMetrics> {
  const row = await findMetricsRow(db, businessId, customerId)
  if (!row) throw new NotFound('customer')
  return toMetrics(row)
}

export interface HistoryQuery {
  limit?: number
  offset?: number
  start_date?: string
  end_date?: string
}

/** One customer's reported sales, newest first, with a summary counted the way metrics are. */
export async function purchaseHistory(
  db: Executor,
  businessId: number,
  customerId: number,
  query: HistoryQuery,
): Promise<SalesHistory> {
  const { limit = 10, offset = 0 } = query
  const from = boundOf(query.start_date, 'start')
  const to = boundOf(query.end_date, 'end')
  if (from && to && from > to) throw invalid('start_date', 'must not be after end_date')
  const [exists, sales] = await Promise.all([
    customerExists(db, businessId, customerId),
    listSales(db, { businessId, customerId, from, to }, { limit, offset }),
  ])
  if (!exists) throw new NotFound('customer')
  return {
    sales: sales.rows.map(toSale),
    total: sales.total,
    summary: {
      total_sales: sales.totalSales,
      total_amount: sales.totalAmount,
      avg_amount: sales.avgAmount,
    },
    limit,
    offset,
  }
}

/** Active customers with at least `min_purchases` purchases, biggest spenders first. */
export async function repeatCustomers(
  db: Executor,
  businessId: number,
  query: { limit?: number; offset?: number; min_purchases?: number },
): Promise<{ customers: RepeatCustomer[]; minPurchases: number }> {
  const { limit = 20, offset = 0, min_purchases: minPurchases = 2 } = query
  const rows = await listRepeatCustomerRows(db, businessId, { minPurchases, limit, offset })
  return { customers: rows.map(toRepeatCustomer), minPurchases }
}

/** The business's customer counts, repeat rate, lifetime value and frequency distribution. */
export async function customerAnalytics(
  db: Executor,
  businessId: number,
): Promise<CustomerAnalytics> {
  return toAnalytics(await analyticsRow(db, businessId))
}
