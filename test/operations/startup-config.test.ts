import { mkdtempSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { ConfigError, EnvironmentSchema, loadConfig } from '../../lib/config.js'
import { runServer } from './server-process.js'

const SECRET_LOOKING = 'short-secret-value'

/** One bad value for every variable of the schema, and the name the message must carry. */
const cases: { variable: string; value: string; named?: string }[] = [
  { variable: 'NODE_ENV', value: 'staging' },
  { variable: 'PORT', value: 'eighty' },
  { variable: 'PORT', value: '70000' },
  { variable: 'HOST', value: '' },
  { variable: 'DATABASE_URL', value: 'mysql://db.example/payme' },
  { variable: 'DATA_DIR', value: '' },
  { variable: 'DB_POOL_MAX', value: '0' },
  { variable: 'DB_POOL_WAIT_MS', value: '5' },
  { variable: 'DB_QUEUE_MAX', value: '-1' },
  { variable: 'MAX_EVENT_LOOP_DELAY_MS', value: 'soon' },
  { variable: 'MAX_HEAP_USED_MB', value: '-5' },
  { variable: 'JWT_SECRET', value: SECRET_LOOKING },
  { variable: 'JWT_PUBLIC_KEY', value: 'not a pem' },
  { variable: 'JWT_ISSUER', value: '' },
  { variable: 'JWT_AUDIENCE', value: '' },
  { variable: 'SALES_WEBHOOK_SECRET', value: SECRET_LOOKING.slice(0, 10) },
  { variable: 'CURSOR_SECRET', value: SECRET_LOOKING.slice(0, 15) },
  { variable: 'LOG_LEVEL', value: 'loud' },
  { variable: 'LOG_DIR', value: '' },
  { variable: 'REDIS_URL', value: '127.0.0.1:6379' },
  { variable: 'CORS_ORIGINS', value: '*' },
  { variable: 'CORS_ORIGINS', value: 'https://shop.example,shop2.example' },
  { variable: 'RATE_LIMIT_MAX', value: '0' },
  { variable: 'RATE_LIMIT_MAX', value: 'lots' },
  { variable: 'RATE_LIMIT_WEBHOOK_MAX', value: '-1' },
  { variable: 'TRUST_PROXY', value: 'everyone' },
  { variable: 'TRUST_PROXY', value: '10.0.0.0/99' },
  { variable: 'SHUTDOWN_TIMEOUT_MS', value: 'soon' },
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

t.test('a bad value stops loadConfig with one line naming the variable', async (t) => {
  for (const { variable, value } of cases) {
    const name = `${variable}=${JSON.stringify(value)}`
    const dataDir = mkdtempSync(join(tmpdir(), 'payme-config-'))
    const { error, message = '' } = configErrorOf(environment({ [variable]: value }, dataDir))
    t.ok(error instanceof ConfigError, `${name}: a ConfigError (server.ts exits 1 with it)`)
    const lines = message.trim().split('\n')
    t.equal(lines.length, 1, `${name}: one line (${message.trim()})`)
    t.match(lines[0], new RegExp(`\\b${variable}\\b`), `${name}: the line names ${variable}`)
    t.same(readdirSync(dataDir), [], `${name}: nothing written before stopping`)
    if (value.length >= 8) {
      t.notOk(message.includes(value), `${name}: the value is not echoed`)
    }
  }
})

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
