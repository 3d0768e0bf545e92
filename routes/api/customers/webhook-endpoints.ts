import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { createWebhookEndpoint } from '../../../generated/operations/createWebhookEndpoint.js'
import { deleteWebhookEndpoint } from '../../../generated/operations/deleteWebhookEndpoint.js'
import { getWebhookEndpoint } from '../../../generated/operations/getWebhookEndpoint.js'
import { listWebhookDeliveries } from '../../../generated/operations/listWebhookDeliveries.js'
import { listWebhookEndpoints } from '../../../generated/operations/listWebhookEndpoints.js'
import { updateWebhookEndpoint } from '../../../generated/operations/updateWebhookEndpoint.js'
import * as endpoints from '../../../services/webhook-endpoints.js'

/** Webhook endpoints of a business and their delivery logs. */
const webhookEndpointRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.route({
    ...createWebhookEndpoint,
    config: { idempotent: true },
    handler: async function create(request, reply) {
      const { businessId } = request.params
      const endpoint = await endpoints.createEndpoint(
        request.db,
        businessId,
        request.body,
        app.outbound.policy,
      )
      reply.code(201)
      return { webhook_endpoint: endpoint }
    },
  })

  app.route({
    ...listWebhookEndpoints,
    handler: async function list(request) {
      return { webhook_endpoints: await endpoints.listEndpoints(app.db, request.params.businessId) }
    },
  })

  app.route({
    ...getWebhookEndpoint,
    handler: async function get(request) {
      const { businessId, endpointId } = request.params
      return { webhook_endpoint: await endpoints.getEndpoint(app.db, businessId, endpointId) }
    },
  })

  app.route({
    ...updateWebhookEndpoint,
    config: { idempotent: true },
    handler: async function update(request) {
      const { businessId, endpointId } = request.params
      const endpoint = await endpoints.updateEndpoint(
        request.db,
        businessId,
        endpointId,
        request.body,
        app.outbound.policy,
      )
      return { webhook_endpoint: endpoint }
    },
  })

  app.route({
    ...deleteWebhookEndpoint,
    config: { idempotent: true },
    handler: async function remove(request) {
      const { businessId, endpointId } = request.params
      await endpoints.deleteEndpoint(request.db, businessId, endpointId)
      return { message: 'Webhook endpoint deleted' as const }
    },
  })

  app.route({
    ...listWebhookDeliveries,
    handler: async function deliveries(request) {
      const { businessId, endpointId } = request.params
      const limit = request.query.limit ?? 100
      return {
        deliveries: await endpoints.listEndpointDeliveries(app.db, businessId, endpointId, limit),
      }
    },
  })
}

export default webhookEndpointRoutes
