import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { getCustomerAnalytics } from '../../../generated/operations/getCustomerAnalytics.js'
import { getCustomerMetrics } from '../../../generated/operations/getCustomerMetrics.js'
import { getPurchaseHistory } from '../../../generated/operations/getPurchaseHistory.js'
import { listRepeatCustomers } from '../../../generated/operations/listRepeatCustomers.js'
import * as purchases from '../../../services/purchases.js'

/** Endpoints 10–13: purchase history, metrics, repeat customers and analytics. */
const purchaseRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.route({
    ...getCustomerMetrics,
    handler: async function metrics(request) {
      const { businessId, customerId } = request.params
      return { metrics: await purchases.customerMetrics(app.db, businessId, customerId) }
    },
  })

  app.route({
    ...getPurchaseHistory,
    handler: async function history(request) {
      const { businessId, customerId } = request.params
      return purchases.purchaseHistory(app.db, businessId, customerId, request.query)
    },
  })

  app.route({
    ...listRepeatCustomers,
    handler: async function repeat(request) {
      const found = await purchases.repeatCustomers(
        app.db,
        request.params.businessId,
        request.query,
      )
      return {
        customers: found.customers,
        count: found.customers.length,
        filter: { min_purchases: found.minPurchases },
      }
    },
  })

  app.route({
    ...getCustomerAnalytics,
    handler: async function analytics(request) {
      return { analytics: await purchases.customerAnalytics(app.db, request.params.businessId) }
    },
  })
}

export default purchaseRoutes
