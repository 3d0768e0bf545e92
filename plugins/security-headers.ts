import type { IncomingMessage, ServerResponse } from 'node:http'
import fp from 'fastify-plugin'
import helmet, { type HelmetOptions } from 'helmet'

/**
 * Helmet's defaults, whose CSP already suits Swagger UI at /docs (its scripts and styles are
 * files under /docs/static, none inline). https://helmetjs.github.io/
 */
export const helmetOptions: HelmetOptions = {
  contentSecurityPolicy: {
    // TLS ends at the load balancer; over plain http (development, internal calls) this
    // directive would send /docs's own assets to https and leave the page blank.
    directives: { upgradeInsecureRequests: null },
  },
}

/**
 * The headers helmet's middleware writes for these options, read once by running it on a
 * stand-in response (with fixed directives it writes the same on every response). Helmet also
 * removes `X-Powered-By`, which Fastify never sets.
 */
export function securityHeadersOf(options: HelmetOptions): ReadonlyArray<[string, string]> {
  const headers = new Map<string, string>()
  const response = {
    setHeader(name: string, value: string) {
      headers.set(name.toLowerCase(), String(value))
    },
    removeHeader(name: string) {
      headers.delete(name.toLowerCase())
    },
  }
  helmet(options)({} as IncomingMessage, response as unknown as ServerResponse, (error) => {
    if (error) throw error
  })
  return [...headers]
}

/**
 * Security headers on every response, computed once at start-up: @fastify/helmet (global mode)
 * built helmet's middleware and re-parsed the CSP directives on every request, 5 % of a read's CPU.
 */
export default fp(
  async function securityHeadersPlugin(app, options: { helmet: HelmetOptions }) {
    const headers = securityHeadersOf(options.helmet)
    app.addHook('onRequest', function setSecurityHeaders(_request, reply, done) {
      for (const [name, value] of headers) reply.raw.setHeader(name, value)
      done()
    })
  },
  { name: 'security-headers' },
)
