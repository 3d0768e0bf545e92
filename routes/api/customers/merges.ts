import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { mergeCustomers } from '../../../generated/operations/mergeCustomers.js'
import { undoMerge } from '../../../generated/operations/undoMerge.js'
import * as merges from '../../../services/merges.js'

/** Merging duplicate customers into one, and undoing it. */
const mergeRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.route({
    ...mergeCustomers,
    config: { idempotent: true },
    handler: async function merge(request) {
      const { businessId, customerId } = request.params
      const { customer, merge, attachedSales } = await merges.mergeCustomers(
        request.db,
        businessId,
        customerId,
        request.body.source_ids,
      )
      request.attachedSales = attachedSales
      return { message: 'Customers merged' as const, customer, merge }
    },
  })

  app.route({
    ...undoMerge,
    config: { idempotent: true },
    handler: async function undo(request) {
      const { businessId, mergeId } = request.params
      const { attachedSales, ...merge } = await merges.undoMerge(request.db, businessId, mergeId)
      request.attachedSales = attachedSales
      return { message: 'Merge undone' as const, merge }
    },
  })
}

export default mergeRoutes
