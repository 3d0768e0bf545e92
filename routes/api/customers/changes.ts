import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { listCustomerChanges } from '../../../generated/operations/listCustomerChanges.js'
import { createChangesCursorCodec } from '../../../lib/changes-cursor.js'
import * as changes from '../../../services/changes.js'

/** A customer's change history. */
const changeRoutes: FastifyPluginAsyncTypebox = async (app) => {
  // Made once from the configuration: the signing keys stay here, out of requests and services.
  const cursors = createChangesCursorCodec(app.config.cursorSecrets)

  app.route({
    ...listCustomerChanges,
    handler: async function list(request) {
      const { businessId, customerId } = request.params
      return changes.listCustomerChanges(app.db, businessId, customerId, request.query, cursors)
    },
  })
}

export default changeRoutes
