import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { listCustomerDuplicates } from '../../../generated/operations/listCustomerDuplicates.js'
import { listDuplicates } from '../../../generated/operations/listDuplicates.js'
import { createDuplicatesCursorCodec } from '../../../lib/duplicates-cursor.js'
import * as duplicates from '../../../services/duplicates.js'

/** Duplicate candidates: the business's pairs, and one customer's. */
const duplicateRoutes: FastifyPluginAsyncTypebox = async (app) => {
  // Made once from the configuration: the signing keys stay here, out of requests and services.
  const cursors = createDuplicatesCursorCodec(app.config.cursorSecrets)

  app.route({
    ...listDuplicates,
    handler: async function list(request) {
      return duplicates.listDuplicates(app.db, request.params.businessId, request.query, cursors)
    },
  })

  app.route({
    ...listCustomerDuplicates,
    handler: async function listForCustomer(request) {
      const { businessId, customerId } = request.params
      return duplicates.listCustomerDuplicates(
        app.db,
        businessId,
        customerId,
        request.query,
        cursors,
      )
    },
  })
}

export default duplicateRoutes
