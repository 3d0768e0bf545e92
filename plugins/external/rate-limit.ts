import type { RateLimitPluginOptions } from '@fastify/rate-limit'
import type { FastifyRequest } from 'fastify'
import type { Redis } from 'ioredis'
import type { Config } from '../../lib/config.js'
import { HttpError } from '../../lib/http-errors.js'

/**
 * Request limits per minute, counted in Redis when REDIS_URL is set so that every instance
 * shares them. Applied by plugins/rate-limit.ts (before authentication) and by routes that set
 * `config.rateLimit`. https://github.com/fastify/fastify-rate-limit
 */
export { default } from '@fastify/rate-limit'

export function rateLimitOptions(
  config: Config,
  options: { redis?: Redis; keyGenerator: (request: FastifyRequest) => Promise<string> },
): RateLimitPluginOptions {
  const { redis, keyGenerator } = options
  return {
    // No per-route hooks by default: they would run after a folder's authentication hooks.
    global: false,
    max: config.rateLimitMax,
    timeWindow: 60_000,
    keyGenerator,
    ...(redis ? { redis, nameSpace: 'payme-customers:rate-limit:' } : {}),
    // Redis unreachable: serve without counting rather than fail every request.
    skipOnError: true,
    errorResponseBuilder: (_request, context) =>
      new HttpError(429, 'Too many requests', `Rate limit exceeded, retry in ${context.after}`),
  }
}
