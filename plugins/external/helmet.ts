import type { FastifyHelmetOptions } from '@fastify/helmet'

/**
 * Security headers on every response. Helmet's default CSP already suits Swagger UI at /docs
 * (its scripts and styles are files under /docs/static, none inline). https://github.com/fastify/fastify-helmet
 */
export { default } from '@fastify/helmet'

export const helmetOptions: FastifyHelmetOptions = {
  contentSecurityPolicy: {
    // TLS ends at the load balancer; over plain http (development, internal calls) this
    // directive would send /docs's own assets to https and leave the page blank.
    directives: { upgradeInsecureRequests: null },
  },
}
