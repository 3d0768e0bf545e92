import type { FastifyCorsOptions } from '@fastify/cors'
import type { Config } from '../../lib/config.js'

/** Lets the browser origins in CORS_ORIGINS call the API; none by default. https://github.com/fastify/fastify-cors */
export { default } from '@fastify/cors'

export function corsOptions(config: Config): FastifyCorsOptions {
  return {
    origin: config.corsOrigins.length > 0 ? config.corsOrigins : false,
    credentials: true, // the token may travel in a cookie
    methods: ['GET', 'POST', 'PATCH', 'DELETE'],
    allowedHeaders: ['authorization', 'content-type', 'x-request-id'],
    exposedHeaders: [
      'x-request-id',
      'x-ratelimit-limit',
      'x-ratelimit-remaining',
      'x-ratelimit-reset',
      'retry-after',
    ],
    maxAge: 600,
  }
}
