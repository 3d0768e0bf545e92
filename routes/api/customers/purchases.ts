import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import {
  customerAnalytics,
  findMetricsRow,
  listRepeatCustomers as listRepeatCustomerRows,
} from '../../../db/customer-purchase-history.js'
import { listSales } from '../../../db/customer-sales.js'
import { customerExists } from '../../../db/customers.js'
import { getCustomerAnalytics } from '../../../generated/operations/getCustomerAnalytics.js'
import { getCustomerMetrics } from '../../../generated/operations/getCustomerMetrics.js'
import { getPurchaseHistory } from '../../../generated/operations/getPurchaseHistory.js'
import { listRepeatCustomers } from '../../../generated/operations/listRepeatCustomers.js'
import { isStorableDate } from '../../../lib/dates.js'
import { customerNotFound, validationFailed } from '../../../lib/http-errors.js'
import { toAnalytics, toMetrics, toRepeatCustomer, toSale } from '../../../lib/representations.js'

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/
const DAY_MS = 24 * 60 * 60 * 1000

/** Inclusive bounds: a bare date starts at its first instant or ends at its last (UTC). */
function boundOf(value: string | undefined, edge: 'start' | 'end'): Date | undefined {
  if (value === undefined) return undefined
  const start = new Date(DATE_ONLY.test(value) ? `${value}T00:00:00.000Z` : value)
  if (!isStorableDate(start)) {
    throw validationFailed([
      { path: `${edge}_date`, message: 'must be a real date in years 1 to 9999' },
    ])
  }
  return edge === 'end' && DATE_ONLY.test(value) ? new Date(start.getTime() + DAY_MS - 1) : start
}

/** Purchase history, metrics, repeat customers and analytics: read from the sales feed's data. */
const purchaseRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/:customerId/metrics', { schema: getCustomerMetrics }, async function metrics(request) {
    const { businessId, customerId } = request.params
    const row = await findMetricsRow(app.db, businessId, customerId)
    if (!row) throw customerNotFound()
    return { metrics: toMetrics(row) }
  })

  app.get('/:customerId/history', { schema: getPurchaseHistory }, async function history(request) {
    const { businessId, customerId } = request.params
    const { limit = 10, offset = 0, start_date: startDate, end_date: endDate } = request.query
    const from = boundOf(startDate, 'start')
    const to = boundOf(endDate, 'end')
    if (from && to && from > to) {
      throw validationFailed([{ path: 'start_date', message: 'must not be after end_date' }])
    }
    const [exists, sales] = await Promise.all([
      customerExists(app.db, businessId, customerId),
      listSales(app.db, { businessId, customerId, from, to }, { limit, offset }),
    ])
    if (!exists) throw customerNotFound()
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
  })

  app.get('/repeat', { schema: listRepeatCustomers }, async function repeat(request) {
    const { businessId } = request.params
    const { limit = 20, offset = 0, min_purchases: minPurchases = 2 } = request.query
    const rows = await listRepeatCustomerRows(app.db, businessId, { minPurchases, limit, offset })
    return {
      customers: rows.map(toRepeatCustomer),
      count: rows.length,
      filter: { min_purchases: minPurchases },
    }
  })

  app.get('/analytics', { schema: getCustomerAnalytics }, async function analytics(request) {
    return { analytics: toAnalytics(await customerAnalytics(app.db, request.params.businessId)) }
  })
}

export default purchaseRoutes
