import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { getHealth } from '../generated/operations/getHealth.js'
import { getMetrics } from '../generated/operations/getMetrics.js'
import { getOpenApiDocument } from '../generated/operations/getOpenApiDocument.js'
import { getReady } from '../generated/operations/getReady.js'
import { databaseUnavailable } from '../lib/http-errors.js'
import type { OpenApiDocument } from '../lib/openapi-document.js'
import { connectionOf } from '../plugins/db.js'

const READY_TIMEOUT_MS = 1000

/**
 * Probes and scrapes come from the platform, often and from few addresses: never limited, never
 * shed under load, and not logged line by line unless they fail.
 */
const probe = { rateLimit: false, logRequests: false, loadShedding: false } as const

/** Public routes: liveness, readiness, metrics and the contract. */
const operationsRoutes: FastifyPluginAsyncTypebox<{ document: OpenApiDocument }> = async (
  app,
  options,
) => {
  // Readiness asks on a connection of its own: it reports the database, never pool saturation.
  const database = connectionOf(app.db)

  app.route({
    ...getHealth,
    config: probe,
    handler: async function health() {
      return { status: 'ok' as const }
    },
  })

  app.route({
    ...getReady,
    config: probe,
    handler: async function ready() {
      try {
        await database.ping(READY_TIMEOUT_MS)
      } catch {
        throw databaseUnavailable()
      }
      return { status: 'ok' as const }
    },
  })

  app.route({
    ...getMetrics,
    config: probe,
    handler: async function metrics(_request, reply) {
      const registry = app.metrics.client.register
      return reply.type(registry.contentType).send(await registry.metrics())
    },
  })

  app.route<{ Reply: OpenApiDocument }>({
    ...getOpenApiDocument,
    handler: async function openApiDocument() {
      return options.document
    },
  })
}

export default operationsRoutes
