import type { FastifyInstance } from 'fastify'
import type { DatabaseConnection } from './db/connect.js'
import type { Config } from './lib/config.js'
import type { OutboundOverrides } from './lib/outbound/outbound.js'
import { loadOpenApiDocument } from './lib/openapi-document.js'
import { connectRedis } from './lib/redis.js'
import cookie from './plugins/external/cookie.js'
import cors, { corsOptions } from './plugins/external/cors.js'
import jwt, { jwtOptions } from './plugins/external/jwt.js'
import metrics, { metricsOptions } from './plugins/external/metrics.js'
import rateLimit, { rateLimitOptions } from './plugins/external/rate-limit.js'
import swagger, { swaggerOptions } from './plugins/external/swagger.js'
import swaggerUi, { swaggerUiOptions } from './plugins/external/swagger-ui.js'
import auth from './plugins/auth.js'
import configPlugin from './plugins/config.js'
import db from './plugins/db.js'
import errors from './plugins/errors.js'
import idempotency from './plugins/idempotency.js'
import inputNormalisation from './plugins/input-normalisation.js'
import jobQueue from './plugins/job-queue.js'
import loadShedding from './plugins/load-shedding.js'
import outbound from './plugins/outbound.js'
import purchaseHistory from './plugins/purchase-history.js'
import rateLimitPlugin, { rateLimitKey } from './plugins/rate-limit.js'
import changeContext from './plugins/change-context.js'
import requestId from './plugins/request-id.js'
import securityHeaders, { helmetOptions } from './plugins/security-headers.js'
import serviceMetrics from './plugins/service-metrics.js'
import customersApi from './routes/api/customers/index.js'
import operationsRoutes from './routes/operations.js'
import salesWebhookRoutes from './routes/webhooks/sales.js'

export interface AppOptions {
  config: Config
  /** Tests hand in their own database connection; the server opens one from the config. */
  database?: DatabaseConnection
  /** Start-up progress lines for a person (development); unset, they go to the JSON log. */
  progress?: (line: string) => void
  /** Tests replace the resolver and connector of webhook deliveries (only 127.0.0.1 is reached). */
  outbound?: OutboundOverrides
}

/** The root plugin: third-party wrappers, then our plugins, then routes. */
export default async function app(fastify: FastifyInstance, options: AppOptions): Promise<void> {
  const { config } = options
  const document = loadOpenApiDocument()
  // Bodies are JSON only: anything else, plain text included, is a 415.
  fastify.removeContentTypeParser('text/plain')

  const redis = config.redisUrl ? await connectRedis(config.redisUrl, fastify.log) : undefined
  if (redis) fastify.addHook('onClose', async () => redis.disconnect())

  await fastify.register(metrics, metricsOptions())
  await fastify.register(securityHeaders, { helmet: helmetOptions })
  await fastify.register(cors, corsOptions(config))
  await fastify.register(cookie)
  await fastify.register(jwt, jwtOptions(config))
  await fastify.register(rateLimit, rateLimitOptions(config, { redis, keyGenerator: rateLimitKey }))
  await fastify.register(swagger, swaggerOptions(document))
  await fastify.register(swaggerUi, swaggerUiOptions)

  await fastify.register(configPlugin, { config })
  await fastify.register(outbound, { overrides: options.outbound })
  await fastify.register(requestId)
  await fastify.register(changeContext)
  await fastify.register(errors)
  await fastify.register(inputNormalisation)
  await fastify.register(db, { connection: options.database, progress: options.progress })
  await fastify.register(jobQueue)
  await fastify.register(serviceMetrics)
  await fastify.register(loadShedding)
  await fastify.register(auth)
  await fastify.register(rateLimitPlugin)
  await fastify.register(purchaseHistory)
  await fastify.register(idempotency)

  await fastify.register(operationsRoutes, { document })
  await fastify.register(salesWebhookRoutes)
  await fastify.register(customersApi)
}
