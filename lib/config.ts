import { randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { dirname, join, resolve } from 'node:path'
import { Type, type Static } from '@sinclair/typebox'
import envSchema from 'env-schema'

/** Every environment variable the service reads, with its default. */
export const EnvironmentSchema = Type.Object({
  NODE_ENV: Type.Union(
    [Type.Literal('development'), Type.Literal('production'), Type.Literal('test')],
    {
      default: 'development',
      description: 'production refuses to start without a JWT key (or CURSOR_SECRET, see below)',
    },
  ),
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3000, description: 'HTTP port' }),
  HOST: Type.String({ minLength: 1, default: '127.0.0.1', description: 'Address to bind' }),
  PROBE_PORT: Type.Optional(
    Type.Integer({
      minimum: 0,
      maximum: 65535,
      description:
        'Also serve `/health` and `/ready` on this port, from a worker thread (on HOST, not PORT); unset: on PORT only',
    }),
  ),
  DATABASE_URL: Type.Optional(
    Type.String({
      pattern: '^postgres(ql)?://',
      description: 'PostgreSQL URL; unset runs embedded PostgreSQL (PGlite) in DATA_DIR',
    }),
  ),
  DATA_DIR: Type.String({
    minLength: 1,
    default: './data',
    description:
      'Embedded database and the development JWT and webhook secrets; one process at a time',
  }),
  DB_POOL_MAX: Type.Integer({ minimum: 1, maximum: 200, default: 20, description: 'pg pool size' }),
  DB_POOL_WAIT_MS: Type.Integer({
    minimum: 10,
    maximum: 60000,
    default: 3000,
    description: 'Longest wait for a pool connection; past it the answer is 503 Service overloaded',
  }),
  DB_QUEUE_MAX: Type.Integer({
    minimum: 0,
    maximum: 100000,
    default: 200,
    description: 'Requests allowed to wait for a database connection; more get 503 at once',
  }),
  MAX_EVENT_LOOP_DELAY_MS: Type.Integer({
    minimum: 0,
    default: 1000,
    description: 'Event-loop delay past which requests get 503 Service overloaded (0: off)',
  }),
  MAX_HEAP_USED_MB: Type.Integer({
    minimum: 0,
    default: 1536,
    description: 'Heap in use past which requests get 503 Service overloaded (0: off)',
  }),
  JWT_SECRET: Type.Optional(
    Type.String({ minLength: 32, description: 'HS256 secret (at least 32 characters)' }),
  ),
  JWT_PUBLIC_KEY: Type.Optional(
    Type.String({
      pattern: '-----BEGIN PUBLIC KEY-----',
      description: 'PEM public key for RS256/ES256 tokens',
    }),
  ),
  JWT_ISSUER: Type.Optional(Type.String({ minLength: 1, description: 'Required `iss`, if set' })),
  JWT_AUDIENCE: Type.Optional(Type.String({ minLength: 1, description: 'Required `aud`, if set' })),
  SALES_WEBHOOK_SECRET: Type.Optional(
    Type.String({
      pattern: '^[^,]{16,}(,[^,]{16,})*$',
      description:
        'Comma-separated secrets (16+ characters each) for the sales webhook signature; unset outside production: DATA_DIR/dev-webhook-secret',
    }),
  ),
  CURSOR_SECRET: Type.Optional(
    Type.String({
      pattern: '^[^,]{16,}(,[^,]{16,})*$',
      description:
        'Comma-separated secrets (16+ each) signing list cursors, first signs; unset: from the HS256 JWT secret',
    }),
  ),
  LOG_LEVEL: Type.Union(
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((level) =>
      Type.Literal(level),
    ),
    { default: 'info', description: 'pino log level' },
  ),
  LOG_DIR: Type.Optional(
    Type.String({
      minLength: 1,
      description:
        'Also write error.log and combined.log here, rotated daily (see docs/operations.md)',
    }),
  ),
  REDIS_URL: Type.Optional(
    Type.String({
      pattern: '^rediss?://',
      description: 'Redis for rate-limit counters shared by all instances; unset: per instance',
    }),
  ),
  CORS_ORIGINS: Type.Optional(
    Type.String({
      pattern: '^ *https?://[^/,\\s]+ *(, *https?://[^/,\\s]+ *)*$',
      description: 'Comma-separated browser origins allowed by CORS; unset: none',
    }),
  ),
  RATE_LIMIT_MAX: Type.Integer({
    minimum: 1,
    default: 600,
    description: 'Requests per minute per user (per IP without a token)',
  }),
  RATE_LIMIT_WEBHOOK_MAX: Type.Integer({
    minimum: 1,
    default: 6000,
    description: 'Sales webhook requests per minute per IP',
  }),
  TRUST_PROXY: Type.Optional(
    Type.String({
      pattern: '^[0-9A-Za-z.:/,]+$',
      description:
        'Trust X-Forwarded-For from: `true` (any), a hop count, or comma-separated addresses/CIDRs',
    }),
  ),
  SHUTDOWN_TIMEOUT_MS: Type.Integer({
    minimum: 0,
    default: 10000,
    description: 'On SIGTERM/SIGINT, longest wait for requests in flight before exiting anyway',
  }),
  WORKERS: Type.Boolean({
    default: true,
    description:
      'Run queued jobs and schedules here; `false`: an API-only instance that only enqueues (`npm run worker` runs them)',
  }),
})
export type Environment = Static<typeof EnvironmentSchema>

export type JwtKey =
  | { kind: 'secret'; secret: string; source: 'env' | 'dev-file'; path?: string }
  | { kind: 'public-key'; publicKey: string }

export interface Config {
  env: Environment['NODE_ENV']
  port: number
  host: string
  /** Where a worker thread answers /health and /ready apart from the service; unset: nowhere. */
  probePort?: number
  databaseUrl?: string
  dataDir: string
  /** Overrides DATA_DIR/pgdata for embedded PostgreSQL; tests use `memory://`. */
  embeddedDatabasePath?: string
  dbPoolMax: number
  /** Load shedding: pool wait limit, waiting requests allowed, event-loop and heap limits (0: off). */
  dbPoolWaitMs: number
  dbQueueMax: number
  maxEventLoopDelayMs: number
  maxHeapUsedBytes: number
  jwt: JwtKey
  jwtIssuer?: string
  jwtAudience?: string
  /** Secrets that may sign sales webhooks; more than one during a rotation. */
  salesWebhookSecrets: string[]
  /** Where the development webhook secret is, when it is the one in use (no SALES_WEBHOOK_SECRET). */
  salesWebhookSecretFile?: string
  /**
   * What list cursors' HMAC keys are derived from (lib/list-cursor.ts, HKDF with a fixed label,
   * so a JWT secret here never signs a cursor itself); the first signs, all verify.
   */
  cursorSecrets: string[]
  logLevel: string
  /** Where error.log and combined.log are written; unset: stdout only. */
  logDir?: string
  redisUrl?: string
  corsOrigins: string[]
  /** Requests per minute per user (per IP when unauthenticated), and for the sales webhook. */
  rateLimitMax: number
  rateLimitWebhookMax: number
  /** Fastify's trustProxy: which proxies' X-Forwarded-For decides `request.ip`. */
  trustProxy: boolean | number | string[]
  shutdownTimeoutMs: number
  /** Whether this process runs the job queue's workers and schedules (it enqueues either way). */
  workers: boolean
  /** The first retry of a failed webhook delivery (then doubling): 1 s; tests shorten it. */
  webhookRetryBaseMs: number
}

export class ConfigError extends Error {}

const DEV_SECRET_FILE = 'dev-jwt-secret'
const DEV_WEBHOOK_SECRET_FILE = 'dev-webhook-secret'

/** The development secret, made once and kept in DATA_DIR so tokens survive restarts. */
export function devSecretPath(dataDir: string): string {
  return join(resolve(dataDir), DEV_SECRET_FILE)
}

/** The development sales webhook secret (`npm run sale` signs with it), made once in DATA_DIR. */
export function devWebhookSecretPath(dataDir: string): string {
  return join(resolve(dataDir), DEV_WEBHOOK_SECRET_FILE)
}

/** A random secret in `path`, written once (mode 0600) and read on every later start. */
function loadOrCreateSecretFile(path: string): string {
  mkdirSync(dirname(path), { recursive: true })
  try {
    writeFileSync(path, randomBytes(48).toString('base64url'), { mode: 0o600, flag: 'wx' })
  } catch (error) {
    // Already made, by an earlier start or by another process starting at the same moment.
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
  }
  return readFileSync(path, 'utf8').trim()
}

function loadOrCreateDevSecret(dataDir: string): JwtKey & { kind: 'secret' } {
  const path = devSecretPath(dataDir)
  return { kind: 'secret', secret: loadOrCreateSecretFile(path), source: 'dev-file', path }
}

function jwtKeyOf(environment: Environment): JwtKey {
  if (environment.JWT_SECRET && environment.JWT_PUBLIC_KEY) {
    throw new ConfigError('Set only one of JWT_SECRET and JWT_PUBLIC_KEY')
  }
  if (environment.JWT_SECRET)
    return { kind: 'secret', secret: environment.JWT_SECRET, source: 'env' }
  if (environment.JWT_PUBLIC_KEY) {
    return { kind: 'public-key', publicKey: environment.JWT_PUBLIC_KEY.replace(/\\n/g, '\n') }
  }
  if (environment.NODE_ENV === 'production') {
    throw new ConfigError(
      'JWT_SECRET (or JWT_PUBLIC_KEY) is required when NODE_ENV=production; refusing to start',
    )
  }
  return loadOrCreateDevSecret(environment.DATA_DIR)
}

const listOf = (value: string | undefined): string[] =>
  (value ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '')

type Variable = keyof typeof EnvironmentSchema.properties

interface Rule {
  minimum?: number
  maximum?: number
  anyOf?: { const?: unknown }[]
}

const ruleOf = (variable: Variable): Rule => EnvironmentSchema.properties[variable] as Rule

/** "must be a whole number from 1 to 200", or "…, 0 or more": from the schema's own bounds. */
function wholeNumber(variable: Variable, unit?: string): string {
  const { minimum = 0, maximum } = ruleOf(variable)
  const kind = unit ? `a whole number of ${unit}` : 'a whole number'
  return maximum === undefined
    ? `must be ${kind}, ${minimum} or more`
    : `must be ${kind} from ${minimum} to ${maximum}`
}

function oneOf(variable: Variable): string {
  const allowed = (ruleOf(variable).anyOf ?? []).map((option) => String(option.const))
  return `must be one of ${allowed.join(', ')}`
}

const SECRET_LIST = 'must be one or more secrets of at least 16 characters, separated by commas'

/**
 * What each variable must be, in words: a bad value is reported with this line (never the value,
 * which may be a secret, and never the schema's regular expressions).
 */
const RULES: Record<Variable, string> = {
  NODE_ENV: oneOf('NODE_ENV'),
  PORT: wholeNumber('PORT'),
  HOST: 'must be an address to bind, such as 127.0.0.1 or 0.0.0.0',
  PROBE_PORT: `${wholeNumber('PROBE_PORT')}, not the same as PORT`,
  DATABASE_URL: 'must be a PostgreSQL URL starting with postgres:// or postgresql://',
  DATA_DIR: 'must be a folder path (not empty)',
  DB_POOL_MAX: wholeNumber('DB_POOL_MAX'),
  DB_POOL_WAIT_MS: wholeNumber('DB_POOL_WAIT_MS', 'milliseconds'),
  DB_QUEUE_MAX: wholeNumber('DB_QUEUE_MAX'),
  MAX_EVENT_LOOP_DELAY_MS: `${wholeNumber('MAX_EVENT_LOOP_DELAY_MS', 'milliseconds')} (0 turns the check off)`,
  MAX_HEAP_USED_MB: `${wholeNumber('MAX_HEAP_USED_MB', 'megabytes')} (0 turns the check off)`,
  JWT_SECRET: 'must be a secret of at least 32 characters',
  JWT_PUBLIC_KEY:
    'must be a PEM public key starting with -----BEGIN PUBLIC KEY----- (newlines may be written as \\n)',
  JWT_ISSUER: 'must not be empty when set',
  JWT_AUDIENCE: 'must not be empty when set',
  SALES_WEBHOOK_SECRET: SECRET_LIST,
  CURSOR_SECRET: SECRET_LIST,
  LOG_LEVEL: oneOf('LOG_LEVEL'),
  LOG_DIR: 'must be a folder path (not empty) when set',
  REDIS_URL: 'must be a Redis URL starting with redis:// or rediss://',
  CORS_ORIGINS:
    'must be one or more origins such as https://shop.example (scheme and host, no path), separated by commas',
  RATE_LIMIT_MAX: wholeNumber('RATE_LIMIT_MAX', 'requests per minute'),
  RATE_LIMIT_WEBHOOK_MAX: wholeNumber('RATE_LIMIT_WEBHOOK_MAX', 'requests per minute'),
  TRUST_PROXY:
    'must be true, false, a hop count, or comma-separated addresses, CIDRs or loopback, linklocal, uniquelocal',
  SHUTDOWN_TIMEOUT_MS: wholeNumber('SHUTDOWN_TIMEOUT_MS', 'milliseconds'),
  WORKERS: 'must be true or false',
}

const invalid = (variable: Variable): ConfigError =>
  new ConfigError(`Invalid configuration: ${variable} ${RULES[variable]}`)

/** A comma-separated secret list, each secret 16+ characters once the spaces around commas go. */
function secretListOf(
  environment: Environment,
  variable: 'CURSOR_SECRET' | 'SALES_WEBHOOK_SECRET',
): string[] {
  const value = environment[variable]
  if (value === undefined) return []
  const secrets = listOf(value)
  // The schema counts spaces around the commas; what is used must still be 16+ characters.
  if (secrets.length === 0 || secrets.some((secret) => secret.length < 16)) throw invalid(variable)
  return secrets
}

/**
 * CURSOR_SECRET; without it the HS256 JWT secret in use (JWT_SECRET, or the development secret),
 * or outside production the development secret even when tokens are checked with a public key.
 */
function cursorSecretsOf(environment: Environment, configured: string[], jwt: JwtKey): string[] {
  if (configured.length > 0) return configured
  if (jwt.kind === 'secret') return [jwt.secret]
  if (environment.NODE_ENV === 'production') {
    throw new ConfigError(
      'CURSOR_SECRET is required when NODE_ENV=production and tokens are checked with JWT_PUBLIC_KEY (no HS256 secret to derive it from); refusing to start',
    )
  }
  return [loadOrCreateDevSecret(environment.DATA_DIR).secret]
}

/**
 * SALES_WEBHOOK_SECRET; without it, outside production, a development secret kept in DATA_DIR
 * (so `npm run sale` works out of the box). Production without it refuses every webhook (401).
 */
function webhookSecretsOf(
  environment: Environment,
  configured: string[],
): Pick<Config, 'salesWebhookSecrets' | 'salesWebhookSecretFile'> {
  if (configured.length > 0 || environment.NODE_ENV === 'production') {
    return { salesWebhookSecrets: configured }
  }
  const path = devWebhookSecretPath(environment.DATA_DIR)
  return { salesWebhookSecrets: [loadOrCreateSecretFile(path)], salesWebhookSecretFile: path }
}

const PROXY_PRESETS = new Set(['loopback', 'linklocal', 'uniquelocal'])

function isProxyAddress(item: string): boolean {
  const [address = '', prefix, ...rest] = item.split('/')
  const version = isIP(address)
  if (version === 0 || rest.length > 0) return false
  return (
    prefix === undefined ||
    (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (version === 4 ? 32 : 128))
  )
}

function trustProxyOf(value: string | undefined): Config['trustProxy'] {
  if (value === undefined || value === 'false') return false
  if (value === 'true') return true
  if (/^\d+$/.test(value)) return Number(value)
  const items = listOf(value)
  if (
    items.length === 0 ||
    !items.every((item) => PROXY_PRESETS.has(item) || isProxyAddress(item))
  ) {
    throw invalid('TRUST_PROXY')
  }
  return items
}

/** PROBE_PORT, never the service's own port (0 for both: two free ports, chosen apart). */
function probePortOf(environment: Environment): number | undefined {
  const probePort = environment.PROBE_PORT
  if (probePort !== undefined && probePort !== 0 && probePort === environment.PORT) {
    throw invalid('PROBE_PORT')
  }
  return probePort
}

interface SchemaProblem {
  instancePath: string
}

const isVariable = (name: string): name is Variable => Object.hasOwn(RULES, name)

/** One line naming the first variable that is wrong, in words (never its value: it may be a secret). */
function describeProblems(error: Error & { errors?: SchemaProblem[] }): string {
  const variable = error.errors?.[0]?.instancePath.replace(/^\//, '') ?? ''
  return isVariable(variable)
    ? `Invalid configuration: ${variable} ${RULES[variable]}`
    : 'Invalid configuration'
}

/** Reads and checks the environment once; a bad value throws a ConfigError naming the variable. */
export function loadConfig(source: NodeJS.ProcessEnv = process.env): Config {
  let environment: Environment
  try {
    environment = envSchema<Environment>({
      schema: EnvironmentSchema,
      data: source,
      env: false, // only `source`: tests and scripts hand in exactly what they mean
      dotenv: false,
    })
  } catch (error) {
    throw new ConfigError(describeProblems(error as Error))
  }
  // Every value is checked before a development secret is written to DATA_DIR.
  const probePort = probePortOf(environment)
  const trustProxy = trustProxyOf(environment.TRUST_PROXY)
  const cursorSecrets = secretListOf(environment, 'CURSOR_SECRET')
  const webhookSecrets = secretListOf(environment, 'SALES_WEBHOOK_SECRET')
  const jwt = jwtKeyOf(environment)
  return {
    env: environment.NODE_ENV,
    port: environment.PORT,
    host: environment.HOST,
    probePort,
    databaseUrl: environment.DATABASE_URL,
    dataDir: resolve(environment.DATA_DIR),
    dbPoolMax: environment.DB_POOL_MAX,
    dbPoolWaitMs: environment.DB_POOL_WAIT_MS,
    dbQueueMax: environment.DB_QUEUE_MAX,
    maxEventLoopDelayMs: environment.MAX_EVENT_LOOP_DELAY_MS,
    maxHeapUsedBytes: environment.MAX_HEAP_USED_MB * 1024 * 1024,
    jwt,
    jwtIssuer: environment.JWT_ISSUER,
    jwtAudience: environment.JWT_AUDIENCE,
    cursorSecrets: cursorSecretsOf(environment, cursorSecrets, jwt),
    ...webhookSecretsOf(environment, webhookSecrets),
    logLevel: environment.LOG_LEVEL,
    logDir: environment.LOG_DIR === undefined ? undefined : resolve(environment.LOG_DIR),
    redisUrl: environment.REDIS_URL,
    corsOrigins: listOf(environment.CORS_ORIGINS),
    rateLimitMax: environment.RATE_LIMIT_MAX,
    rateLimitWebhookMax: environment.RATE_LIMIT_WEBHOOK_MAX,
    trustProxy,
    shutdownTimeoutMs: environment.SHUTDOWN_TIMEOUT_MS,
    workers: environment.WORKERS,
    webhookRetryBaseMs: 1000,
  }
}
