import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { listConsents } from '../../../generated/operations/listConsents.js'
import { recordConsent } from '../../../generated/operations/recordConsent.js'
import * as consents from '../../../services/consents.js'

/** The consent ledger of a customer (Kenya Data Protection Act 2019). */
const consentRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.route({
    ...recordConsent,
    config: { idempotent: true },
    handler: async function record(request, reply) {
      const { businessId, customerId } = request.params
      const consent = await consents.recordConsent(request.db, businessId, customerId, request.body)
      reply.code(201)
      return { message: 'Consent recorded' as const, consent }
    },
  })

  app.route({
    ...listConsents,
    handler: async function list(request) {
      const { businessId, customerId } = request.params
      return consents.listConsents(app.db, businessId, customerId)
    },
  })
}

export default consentRoutes
