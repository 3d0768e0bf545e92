import { createRequire } from 'node:module'
import { join } from 'node:path'
import type { IncomingMessage } from 'node:http'
import {
  LogController,
  type FastifyError,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerOptions,
} from 'fastify'
import {
  stdSerializers,
  type DestinationStream,
  type LoggerOptions,
  type TransportTargetOptions,
} from 'pino'
import { buildValidatorCompiler } from './lib/validation.js'
import { errorBody, validationFailed } from './lib/http-errors.js'
import { requestIdOf } from './lib/request-id.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** false: no request line when the answer is a success (probes, scrapes). */
    logRequests?: boolean
  }
}

export const BODY_LIMIT_BYTES = 64 * 1024

const REDACTED = '[redacted]'

/** Credentials and personal data, wherever a log object could carry them. */
export const REDACTED_PATHS = [
  ...['req.headers', 'headers', 'request.headers'].flatMap((headers) => [
    `${headers}.authorization`,
    `${headers}.cookie`,
    `${headers}["payme-signature"]`,
  ]),
  'res.headers["set-cookie"]',
  ...['phone', 'email', 'token', 'cookie', 'signature'].flatMap((field) => [
    field,
    `*.${field}`,
    `*.*.${field}`,
  ]),
]

const EMAIL = /[^\s@"'<>(),;:]+@[^\s@"'<>(),;:]+\.[A-Za-z]{2,}/g
// 9 to 15 digits, optionally spaced or led by +: Kenyan numbers in any of the ways they are written.
const PHONE = /\+?\d(?: ?\d){8,14}/g
const JWT = /\beyJ[\w-]+\.[\w-]+\.[\w-]*/g

/** Masks emails, phone numbers and tokens inside free text (messages, database error details). */
export function scrubText(text: string): string {
  return text.replace(JWT, REDACTED).replace(EMAIL, REDACTED).replace(PHONE, REDACTED)
}

function scrubStrings(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return scrubText(value)
  if (depth > 4 || typeof value !== 'object' || value === null) return value
  if (Array.isArray(value)) return value.map((item) => scrubStrings(item, depth + 1))
  return Object.fromEntries(
    Object.entries(value).map(([key, item]) => [key, scrubStrings(item, depth + 1)]),
  )
}

/** A request as logs show it: method and path, never the query string, headers or body. */
function requestSerializer(request: FastifyRequest | IncomingMessage): Record<string, unknown> {
  const url = ('raw' in request ? request.raw.url : request.url) ?? ''
  return { method: request.method, path: scrubText(url.split('?')[0] ?? '') }
}

/**
 * One line per request, written when it ends: request id (the child logger's label), method,
 * route template, status and duration. The URL is not logged: its query and path can carry a
 * searched phone number or email.
 */
export class RequestLogController extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(
    error: Error | null | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
  ): void {
    if (this.isLogDisabled(request)) return
    if (request.routeOptions.config.logRequests === false && reply.statusCode < 400 && !error) {
      return
    }
    const line = {
      method: request.method,
      route: request.routeOptions.url ?? null,
      status_code: reply.statusCode,
      duration_ms: Math.round(reply.elapsedTime * 100) / 100,
    }
    if (error) reply.log.warn({ ...line, err: error }, 'request failed')
    else reply.log.info(line, 'request')
  }

  override routeNotFound(): void {}
}

export interface LoggingOptions {
  logLevel: string
  /** With a folder, also error.log (errors only) and combined.log (everything), rotated daily. */
  logDir?: string
  /** Human-readable lines on stdout (development on a terminal). */
  pretty?: boolean
  /** Where the JSON lines go instead of stdout; tests capture them. */
  stream?: DestinationStream
}

/** Days of rotated files kept besides the current one. */
const LOG_FILES_KEPT = 14

function rolledFile(logDir: string, name: string, level: string): TransportTargetOptions {
  return {
    target: 'pino-roll',
    level,
    options: {
      file: join(logDir, name),
      extension: '.log',
      frequency: 'daily',
      dateFormat: 'yyyy-MM-dd',
      mkdir: true,
      limit: { count: LOG_FILES_KEPT },
    },
  }
}

/** pino-pretty is a development dependency: absent from a production install. */
export function prettyAvailable(): boolean {
  try {
    createRequire(import.meta.url).resolve('pino-pretty')
    return true
  } catch {
    return false
  }
}

export function loggerOptions(options: LoggingOptions): LoggerOptions {
  const { logLevel, logDir, pretty } = options
  const targets: TransportTargetOptions[] = []
  if (logDir || pretty) {
    targets.push(
      pretty
        ? { target: 'pino-pretty', level: logLevel, options: { destination: 1 } }
        : { target: 'pino/file', level: logLevel, options: { destination: 1 } },
    )
  }
  if (logDir) {
    targets.push(rolledFile(logDir, 'error', 'error'), rolledFile(logDir, 'combined', logLevel))
  }
  return {
    level: logLevel,
    redact: { paths: REDACTED_PATHS, censor: REDACTED },
    serializers: {
      req: requestSerializer,
      err: (error: Error) =>
        scrubStrings(stdSerializers.err(error)) as ReturnType<typeof stdSerializers.err>,
    },
    hooks: {
      // Messages are free text: mask what looks like an email, a phone number or a token.
      logMethod(args, method) {
        method.apply(
          this,
          args.map((arg) => (typeof arg === 'string' ? scrubText(arg) : arg)) as typeof args,
        )
      },
    },
    ...(targets.length > 0 ? { transport: { targets } } : {}),
  }
}

type TrustProxy = boolean | number | string[]

/** A hop count as the function Fastify makes of one (its types take no number). */
function trustProxyOption(trust: TrustProxy | undefined): FastifyServerOptions['trustProxy'] {
  if (typeof trust !== 'number') return trust ?? false
  return (_address: string, hop: number) => hop < trust
}

/**
 * Errors Fastify raises before routing (an over-long or badly %-encoded path segment) answer in
 * the contract's shape, with the request id, like every other response: a bad id is a 400.
 */
function answerFrameworkError(
  _error: FastifyError,
  request: FastifyRequest,
  reply: FastifyReply,
): void {
  const problem = validationFailed([
    { path: 'path', message: 'is not a valid path (a parameter is malformed or too long)' },
  ])
  void reply
    .code(problem.statusCode)
    .header('x-request-id', request.id)
    .send(errorBody(problem, request.id))
}

/** The Fastify options the server and the tests share, so tests run the production validator. */
export function serverOptions(
  options: LoggingOptions & { trustProxy?: TrustProxy },
): FastifyServerOptions {
  return {
    logger: { ...loggerOptions(options), ...(options.stream ? { stream: options.stream } : {}) },
    genReqId: requestIdOf,
    logController: new RequestLogController({ requestIdLogLabel: 'request_id' }),
    trustProxy: trustProxyOption(options.trustProxy),
    bodyLimit: BODY_LIMIT_BYTES,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200 },
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    return503OnClosing: true,
    // Embedded PostgreSQL starts (WASM) and migrates inside the db plugin: give a slow machine time.
    pluginTimeout: 60_000,
    frameworkErrors: answerFrameworkError,
    schemaController: { compilersFactory: { buildValidator: buildValidatorCompiler } },
  }
}
