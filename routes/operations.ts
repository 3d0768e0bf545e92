import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { sql } from 'kysely'
import { getHealth } from '../generated/operations/getHealth.js'
import { getMetrics } from '../generated/operations/getMetrics.js'
import { getOpenApiDocument } from '../generated/operations/getOpenApiDocument.js'
import { getReady } from '../generated/operations/getReady.js'
import { databaseUnavailable } from '../lib/http-errors.js'
import type { OpenApiDocument } from '../lib/openapi-document.js'

const READY_TIMEOUT_MS = 1000

async function withTimeout<T>(work: Promise<T>, milliseconds: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timed out')), milliseconds)
  })
  try {
    return await Promise.race([work, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/**
 * Probes and scrapes come from the platform, often and from few addresses: never limited, and
 * not logged line by line unless they fail.
 */
const probe = { rateLimit: false, logRequests: false } as const

/** Public routes: liveness, readiness, metrics and the contract. */
const operationsRoutes: FastifyPluginAsyncTypebox<{ document: OpenApiDocument }> = async (
  app,
  options,
) => {
  app.get('/health', { schema: getHealth, config: probe }, async function health() {
    return { status: 'ok' as const }
  })

  app.get('/ready', { schema: getReady, config: probe }, async function ready() {
    try {
      await withTimeout(sql`select 1`.execute(app.db), READY_TIMEOUT_MS)
    } catch {
      throw databaseUnavailable()
    }
    return { status: 'ok' as const }
  })

  app.get(
    '/metrics',
    { schema: getMetrics, config: probe },
    async function metrics(_request, reply) {
      const registry = app.metrics.client.register
      return reply.type(registry.contentType).send(await registry.metrics())
    },
  )

  app.get<{ Reply: OpenApiDocument }>(
    '/openapi.json',
    { schema: getOpenApiDocument },
    async function openApiDocument() {
      return options.document
    },
  )
}

export default operationsRoutes
