import { Readable } from 'node:stream'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply } from 'fastify'
import { exportCustomer } from '../../../generated/operations/exportCustomer.js'
import * as customerExport from '../../../services/customer-export.js'

/** The customer's right of access: everything held about them, as one download. */
const exportRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.route({
    ...exportCustomer,
    handler: async function download(request, reply) {
      const { businessId, customerId } = request.params
      const chunks = await customerExport.exportCustomer(app.db, businessId, customerId)
      // Streamed with the socket's backpressure, never serialised whole; the 200 schema (the
      // contract's document) types objects only, so the stream goes through the plain reply.
      const plain: FastifyReply = reply as unknown as FastifyReply
      return plain
        .type('application/json; charset=utf-8')
        .header(
          'content-disposition',
          `attachment; filename="customer-${businessId}-${customerId}.json"`,
        )
        .send(Readable.from(chunks, { objectMode: false }))
    },
  })
}

export default exportRoutes
