import { randomUUID } from 'node:crypto'
import { LogController, type FastifyServerOptions } from 'fastify'
import type { IncomingMessage } from 'node:http'
import { buildValidatorCompiler } from './lib/validation.js'

export const BODY_LIMIT_BYTES = 64 * 1024

const SAFE_REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/

/** Keeps a caller's x-request-id only when it is safe to echo into headers and logs. */
export function requestIdOf(request: IncomingMessage): string {
  const incoming = request.headers['x-request-id']
  return typeof incoming === 'string' && SAFE_REQUEST_ID.test(incoming) ? incoming : randomUUID()
}

/** The Fastify options the server and the tests share, so tests run the production validator. */
export function serverOptions(options: { logLevel: string }): FastifyServerOptions {
  return {
    logger: {
      level: options.logLevel,
      redact: {
        paths: [
          'req.headers.authorization',
          'req.headers.cookie',
          'req.headers["payme-signature"]',
        ],
        censor: '[redacted]',
      },
    },
    genReqId: requestIdOf,
    logController: new LogController({ requestIdLogLabel: 'request_id' }),
    bodyLimit: BODY_LIMIT_BYTES,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200 },
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    return503OnClosing: true,
    schemaController: { compilersFactory: { buildValidator: buildValidatorCompiler } },
  }
}
