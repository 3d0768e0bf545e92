import { normalizeIP } from '@fastify/rate-limit'
import type { FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'

/** Per user when the request carries a valid token (its `sub`), per client IP otherwise. */
export async function rateLimitKey(request: FastifyRequest): Promise<string> {
  const user = await request.server.identify(request)
  return user ? `user:${user.id}` : `ip:${normalizeIP(request.ip)}`
}

/**
 * RATE_LIMIT_MAX per minute on every request, the 404 handler's included, checked in a root
 * onRequest hook so that it runs before any folder's authentication: a flood of bad tokens is
 * limited too. A route with its own `config.rateLimit` (the webhook's higher limit, or `false`
 * for probes and metrics) is left to @fastify/rate-limit's route hook.
 */
export default fp(
  async function rateLimitPlugin(app) {
    const limit = app.rateLimit()
    app.addHook('onRequest', async function limitRate(request, reply) {
      if (request.routeOptions.config.rateLimit !== undefined) return
      await limit.call(app, request, reply)
    })
  },
  { name: 'rate-limit', dependencies: ['@fastify/rate-limit', 'auth'] },
)
