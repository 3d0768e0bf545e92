import { mkdtempSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { ConfigError, EnvironmentSchema, loadConfig } from '../../lib/config.js'
import { runServer } from './server-process.js'

const SECRET_LOOKING = 'short-secret-value'

const WHOLE_MS = 'must be a whole number of milliseconds'
const SECRETS = 'must be one or more secrets of at least 16 characters, separated by commas'
const ORIGINS =
  'must be one or more origins such as https://shop.example (scheme and host, no path), separated by commas'
const PROBE_PORT = 'must be a whole number from 0 to 65535, not the same as PORT'
const PROXIES =
  'must be true, false, a hop count, or comma-separated addresses, CIDRs or loopback, linklocal, uniquelocal'

/**
 * One bad value for every variable of the schema, and what the line says about it, in words:
 * `Invalid configuration: <variable> <says>`.
 */
const cases: { variable: string; value: string; says: string }[] = [
  { variable: 'NODE_ENV', value: 'staging', says: 'must be one of development, production, test' },
  { variable: 'PORT', value: 'eighty', says: 'must be a whole number from 0 to 65535' },
  { variable: 'PORT', value: '70000', says: 'must be a whole number from 0 to 65535' },
  {
    variable: 'HOST',
    value: '',
    says: 'must be an address to bind, such as 127.0.0.1 or 0.0.0.0',
  },
  { variable: 'PROBE_PORT', value: 'management', says: PROBE_PORT },
  { variable: 'PROBE_PORT', value: '65536', says: PROBE_PORT },
  {
    variable: 'DATABASE_URL',
    value: 'mysql://db.example/payme',
    says: 'must be a PostgreSQL URL starting with postgres:// or postgresql://',
  },
  { variable: 'DATA_DIR', value: '', says: 'must be a folder path (not empty)' },
  { variable: 'DB_POOL_MAX', value: '0', says: 'must be a whole number from 1 to 200' },
  { variable: 'DB_POOL_WAIT_MS', value: '5', says: `${WHOLE_MS} from 10 to 60000` },
  { variable: 'DB_QUEUE_MAX', value: '-1', says: 'must be a whole number from 0 to 100000' },
  {
    variable: 'MAX_EVENT_LOOP_DELAY_MS',
    value: 'soon',
    says: `${WHOLE_MS}, 0 or more (0 turns the check off)`,
  },
  {
    variable: 'MAX_HEAP_USED_MB',
    value: '-5',
    says: 'must be a whole number of megabytes, 0 or more (0 turns the check off)',
  },
  {
    variable: 'JWT_SECRET',
    value: SECRET_LOOKING,
    says: 'must be a secret of at least 32 characters',
  },
  {
    variable: 'JWT_PUBLIC_KEY',
    value: 'not a pem',
    says: 'must be a PEM public key starting with -----BEGIN PUBLIC KEY----- (newlines may be written as \\n)',
  },
  { variable: 'JWT_ISSUER', value: '', says: 'must not be empty when set' },
  { variable: 'JWT_AUDIENCE', value: '', says: 'must not be empty when set' },
  { variable: 'SALES_WEBHOOK_SECRET', value: SECRET_LOOKING.slice(0, 10), says: SECRETS },
  // 16 characters only with the spaces around the comma: the schema passes it, the list does not.
  {
    variable: 'SALES_WEBHOOK_SECRET',
    value: `${SECRET_LOOKING.slice(0, 16)} ,   ${SECRET_LOOKING.slice(0, 13)}`,
    says: SECRETS,
  },
  { variable: 'CURSOR_SECRET', value: SECRET_LOOKING.slice(0, 15), says: SECRETS },
  {
    variable: 'LOG_LEVEL',
    value: 'loud',
    says: 'must be one of fatal, error, warn, info, debug, trace, silent',
  },
  { variable: 'LOG_DIR', value: '', says: 'must be a folder path (not empty) when set' },
  {
    variable: 'REDIS_URL',
    value: '127.0.0.1:6379',
    says: 'must be a Redis URL starting with redis:// or rediss://',
  },
  { variable: 'CORS_ORIGINS', value: '*', says: ORIGINS },
  { variable: 'CORS_ORIGINS', value: 'https://shop.example,shop2.example', says: ORIGINS },
  {
    variable: 'RATE_LIMIT_MAX',
    value: '0',
    says: 'must be a whole number of requests per minute, 1 or more',
  },
  {
    variable: 'RATE_LIMIT_MAX',
    value: 'lots',
    says: 'must be a whole number of requests per minute, 1 or more',
  },
  {
    variable: 'RATE_LIMIT_WEBHOOK_MAX',
    value: '-1',
    says: 'must be a whole number of requests per minute, 1 or more',
  },
  { variable: 'TRUST_PROXY', value: 'everyone', says: PROXIES },
  { variable: 'TRUST_PROXY', value: '10.0.0.0/99', says: PROXIES },
  { variable: 'TRUST_PROXY', value: 'loopback; 10.0.0.1', says: PROXIES },
  { variable: 'SHUTDOWN_TIMEOUT_MS', value: 'soon', says: `${WHOLE_MS}, 0 or more` },
  { variable: 'WORKERS', value: 'sometimes', says: 'must be true or false' },
]

t.test('every variable of the schema has a bad-value case here', async (t) => {
  const covered = new Set(cases.map((item) => item.variable))
  for (const variable of Object.keys(EnvironmentSchema.properties)) {
    t.ok(covered.has(variable), `${variable} is covered`)
  }
})

/** What server.ts is started with here: a valid environment (DATA_DIR: `dataDir`), then `env`. */
function environment(
  env: Record<string, string | undefined>,
  dataDir = mkdtempSync(join(tmpdir(), 'payme-config-')),
): Record<string, string> {
  const variables: Record<string, string | undefined> = {
    HOST: '127.0.0.1',
    PORT: '0',
    DATA_DIR: dataDir,
    JWT_SECRET: 'a-test-secret-of-at-least-thirty-two-characters',
    ...env,
  }
  return Object.fromEntries(
    Object.entries(variables).filter((entry): entry is [string, string] => entry[1] !== undefined),
  )
}

/** The message loadConfig stops with (what server.ts prints), or undefined if it does not. */
function configErrorOf(variables: Record<string, string>): { error: unknown; message?: string } {
  try {
    loadConfig(variables)
    return { error: undefined }
  } catch (error) {
    return { error, message: error instanceof Error ? error.message : undefined }
  }
}

t.test(
  'a bad value stops loadConfig with one line saying, in words, what it must be',
  async (t) => {
    for (const { variable, value, says } of cases) {
      const name = `${variable}=${JSON.stringify(value)}`
      const dataDir = mkdtempSync(join(tmpdir(), 'payme-config-'))
      const { error, message = '' } = configErrorOf(environment({ [variable]: value }, dataDir))
      t.ok(error instanceof ConfigError, `${name}: a ConfigError (server.ts exits 1 with it)`)
      const lines = message.trim().split('\n')
      t.equal(lines.length, 1, `${name}: one line (${message.trim()})`)
      t.match(lines[0], new RegExp(`\\b${variable}\\b`), `${name}: the line names ${variable}`)
      t.equal(lines[0], `Invalid configuration: ${variable} ${says}`, `${name}: in words`)
      t.notMatch(message, /pattern|must NOT|\^|\$|\[|\{/, `${name}: no schema jargon or regex`)
      t.same(readdirSync(dataDir), [], `${name}: nothing written before stopping`)
      if (value.length >= 8) {
        t.notOk(message.includes(value), `${name}: the value is not echoed`)
      }
    }
  },
)

async function startWith(variables: Record<string, string>) {
  const server = runServer(variables)
  const timer = setTimeout(() => server.child.kill('SIGKILL'), 90_000)
  const code = await server.exited
  clearTimeout(timer)
  return { code, ...server.output }
}

/**
 * A few real processes prove the wiring: server.ts prints exactly loadConfig's message, on
 * one line of stderr, and exits 1 before listening. One schema error (with a secret-looking
 * value), one found after the schema (TRUST_PROXY), and production without a JWT key.
 */
t.test('start-up with a bad value: the process prints that line and exits 1', async (t) => {
  const started = [
    { name: 'JWT_SECRET too short', env: { JWT_SECRET: SECRET_LOOKING }, secret: SECRET_LOOKING },
    { name: 'TRUST_PROXY=everyone', env: { TRUST_PROXY: 'everyone' }, secret: 'everyone' },
    {
      name: 'production without a JWT key',
      env: { NODE_ENV: 'production', JWT_SECRET: undefined },
      secret: undefined,
    },
    // Found after the schema, from two variables: the probes need a port of their own.
    {
      name: 'PROBE_PORT equal to PORT',
      env: { PORT: '3999', PROBE_PORT: '3999' },
      secret: undefined,
    },
  ].map(({ name, env, secret }) => ({ name, secret, variables: environment(env) }))
  const results = await Promise.all(started.map(({ variables }) => startWith(variables)))
  started.forEach(({ name, secret, variables }, index) => {
    const result = results[index]!
    const expected = configErrorOf(variables).message
    t.equal(result.code, 1, `${name}: exit code 1`)
    t.equal(result.stderr.trim().split('\n').length, 1, `${name}: one line on stderr`)
    t.equal(result.stderr.trim(), expected, `${name}: the line is loadConfig's message`)
    t.notMatch(result.stdout, /listening/, `${name}: never listened`)
    if (secret) t.notOk(result.stderr.includes(secret), `${name}: the value is not echoed`)
  })
  t.match(results[2]!.stderr, /JWT_SECRET/, 'production without a key: names JWT_SECRET')
  t.match(results[3]!.stderr, /PROBE_PORT .* not the same as PORT/, 'names PROBE_PORT and PORT')
})

t.test('production with a public key and no CURSOR_SECRET refuses, naming it', async (t) => {
  const result = await startWith(
    environment({
      NODE_ENV: 'production',
      JWT_SECRET: undefined,
      JWT_PUBLIC_KEY: '-----BEGIN PUBLIC KEY-----\\nAAAA\\n-----END PUBLIC KEY-----',
    }),
  )
  t.equal(result.code, 1, 'exit code 1')
  const lines = result.stderr.trim().split('\n')
  t.equal(lines.length, 1, `one line on stderr (${result.stderr.trim()})`)
  t.match(lines[0], /\bCURSOR_SECRET\b/, 'names CURSOR_SECRET')
  t.notMatch(result.stdout, /listening/, 'never listened')
})
