import fp from 'fastify-plugin'
import { outboundFor, type Outbound, type OutboundOverrides } from '../lib/outbound/outbound.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** How the service reaches URLs it was given (webhook endpoints): policy and connector. */
    outbound: Outbound
  }
}

/** The outbound policy for this environment (lib/outbound), with a test's resolver or connector. */
export default fp(
  async function outboundPlugin(app, options: { overrides?: OutboundOverrides }) {
    app.decorate('outbound', outboundFor(app.config.env, options.overrides))
  },
  { name: 'outbound', dependencies: ['config'] },
)
