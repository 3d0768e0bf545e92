import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { eraseCustomer } from '../../../generated/operations/eraseCustomer.js'
import * as erasure from '../../../services/erasure.js'

/** The customer's right to erasure. */
const erasureRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.route({
    ...eraseCustomer,
    config: { idempotent: true },
    handler: async function erase(request) {
      const { businessId, customerId } = request.params
      const customer = await erasure.eraseCustomer(
        request.db,
        businessId,
        customerId,
        request.body.reason,
      )
      return { message: 'Customer erased' as const, customer }
    },
  })
}

export default erasureRoutes
