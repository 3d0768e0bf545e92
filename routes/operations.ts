import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { sql } from 'kysely'
import { getHealth } from '../generated/operations/getHealth.js'
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

/** Public routes: liveness, readiness and the contract. */
const operationsRoutes: FastifyPluginAsyncTypebox<{ document: OpenApiDocument }> = async (
  app,
  options,
) => {
  app.get('/health', { schema: getHealth }, async function health() {
    return { status: 'ok' as const }
  })

  app.get('/ready', { schema: getReady }, async function ready() {
    try {
      await withTimeout(sql`select 1`.execute(app.db), READY_TIMEOUT_MS)
    } catch {
      throw databaseUnavailable()
    }
    return { status: 'ok' as const }
  })

  app.get('/openapi.json', { schema: getOpenApiDocument }, async function openApiDocument() {
    return options.document
  })
}

export default operationsRoutes
