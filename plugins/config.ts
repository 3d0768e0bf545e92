import fp from 'fastify-plugin'
import type { Config } from '../lib/config.js'

declare module 'fastify' {
  interface FastifyInstance {
    config: Config
  }
}

/** Exposes the configuration read once at start-up (lib/config.ts) to every plugin. */
export default fp(
  async function configPlugin(app, options: { config: Config }) {
    app.decorate('config', options.config)
  },
  { name: 'config' },
)
