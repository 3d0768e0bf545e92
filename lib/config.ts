import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { Type, type Static } from '@sinclair/typebox'
import envSchema from 'env-schema'

/** Every environment variable the service reads, with its default. */
export const EnvironmentSchema = Type.Object({
  NODE_ENV: Type.Union(
    [Type.Literal('development'), Type.Literal('production'), Type.Literal('test')],
    { default: 'development', description: 'production refuses to start without a JWT key' },
  ),
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3000, description: 'HTTP port' }),
  HOST: Type.String({ minLength: 1, default: '127.0.0.1', description: 'Address to bind' }),
  DATABASE_URL: Type.Optional(
    Type.String({
      pattern: '^postgres(ql)?://',
      description: 'PostgreSQL URL; unset runs embedded PostgreSQL (PGlite) in DATA_DIR',
    }),
  ),
  DATA_DIR: Type.String({
    minLength: 1,
    default: './data',
    description: 'Embedded database and the development JWT secret live here',
  }),
  DB_POOL_MAX: Type.Integer({ minimum: 1, maximum: 200, default: 20, description: 'pg pool size' }),
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
      description: 'Comma-separated secrets (16+ characters each) for the sales webhook signature',
    }),
  ),
  LOG_LEVEL: Type.Union(
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((level) =>
      Type.Literal(level),
    ),
    { default: 'info', description: 'pino log level' },
  ),
})
export type Environment = Static<typeof EnvironmentSchema>

export type JwtKey =
  | { kind: 'secret'; secret: string; source: 'env' | 'dev-file'; path?: string }
  | { kind: 'public-key'; publicKey: string }

export interface Config {
  env: Environment['NODE_ENV']
  port: number
  host: string
  databaseUrl?: string
  dataDir: string
  /** Overrides DATA_DIR/pgdata for embedded PostgreSQL; tests use `memory://`. */
  embeddedDatabasePath?: string
  dbPoolMax: number
  jwt: JwtKey
  jwtIssuer?: string
  jwtAudience?: string
  /** Secrets that may sign sales webhooks; more than one during a rotation. */
  salesWebhookSecrets: string[]
  logLevel: string
}

export class ConfigError extends Error {}

const DEV_SECRET_FILE = 'dev-jwt-secret'

/** The development secret, made once and kept in DATA_DIR so tokens survive restarts. */
export function devSecretPath(dataDir: string): string {
  return join(resolve(dataDir), DEV_SECRET_FILE)
}

function loadOrCreateDevSecret(dataDir: string): JwtKey {
  const path = devSecretPath(dataDir)
  if (!existsSync(path)) {
    mkdirSync(resolve(dataDir), { recursive: true })
    writeFileSync(path, randomBytes(48).toString('base64url'), { mode: 0o600, flag: 'wx' })
  }
  return { kind: 'secret', secret: readFileSync(path, 'utf8').trim(), source: 'dev-file', path }
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
    throw new ConfigError(`Invalid configuration: ${(error as Error).message}`)
  }
  return {
    env: environment.NODE_ENV,
    port: environment.PORT,
    host: environment.HOST,
    databaseUrl: environment.DATABASE_URL,
    dataDir: resolve(environment.DATA_DIR),
    dbPoolMax: environment.DB_POOL_MAX,
    jwt: jwtKeyOf(environment),
    jwtIssuer: environment.JWT_ISSUER,
    jwtAudience: environment.JWT_AUDIENCE,
    salesWebhookSecrets: (environment.SALES_WEBHOOK_SECRET ?? '')
      .split(',')
      .map((secret) => secret.trim())
      .filter((secret) => secret !== ''),
    logLevel: environment.LOG_LEVEL,
  }
}
