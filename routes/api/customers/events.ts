import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { listEvents } from '../../../generated/operations/listEvents.js'
import { createEventsCursorCodec } from '../../../lib/events-cursor.js'
import * as events from '../../../services/events.js'

/** The business's event feed. */
const eventRoutes: FastifyPluginAsyncTypebox = async (app) => {
  // Made once from the configuration: the signing keys stay here, out of requests and services.
  const cursors = createEventsCursorCodec(app.config.cursorSecrets)

  app.route({
    ...listEvents,
    handler: async function list(request) {
      return events.listEvents(app.db, request.params.businessId, request.query, cursors)
    },
  })
}

export default eventRoutes
