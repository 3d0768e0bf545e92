import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { EnvironmentSchema } from '../../lib/config.js'
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

async function startWith(env: Record<string, string | undefined>) {
  const variables: Record<string, string | undefined> = {
    HOST: '127.0.0.1',
    PORT: '0',
    DATA_DIR: mkdtempSync(join(tmpdir(), 'payme-config-')),
    JWT_SECRET: 'a-test-secret-of-at-least-thirty-two-characters',
    ...env,
  }
  const server = runServer(
    Object.fromEntries(
      Object.entries(variables).filter(
        (entry): entry is [string, string] => entry[1] !== undefined,
      ),
    ),
  )
  const timer = setTimeout(() => server.child.kill('SIGKILL'), 30_000)
  const code = await server.exited
  clearTimeout(timer)
  return { code, ...server.output }
}

t.test('start-up with a bad value stops with one line naming the variable', async (t) => {
  // A few at a time: each is a Node process that stops before opening any database.
  const results: Awaited<ReturnType<typeof startWith>>[] = []
  for (let start = 0; start < cases.length; start += 4) {
    const batch = cases.slice(start, start + 4)
    results.push(
      ...(await Promise.all(batch.map(({ variable, value }) => startWith({ [variable]: value })))),
    )
  }
  cases.forEach(({ variable, value }, index) => {
    const name = `${variable}=${JSON.stringify(value)}`
    const result = results[index]!
    t.equal(result.code, 1, `${name}: exit code 1`)
    const lines = result.stderr.trim().split('\n')
    t.equal(lines.length, 1, `${name}: one line on stderr (${result.stderr.trim()})`)
    t.match(lines[0], new RegExp(`\\b${variable}\\b`), `${name}: the line names ${variable}`)
    t.notMatch(result.stdout, /listening/, `${name}: never listened`)
    if (value.length >= 8) {
      t.notOk(result.stderr.includes(value), `${name}: the value is not echoed`)
    }
  })
})

t.test('production without a JWT key refuses to start, naming JWT_SECRET', async (t) => {
  const result = await startWith({ NODE_ENV: 'production', JWT_SECRET: undefined })
  t.equal(result.code, 1, 'exit code 1')
  t.match(result.stderr, /JWT_SECRET/, 'names JWT_SECRET')
})

t.test('production with a public key and no CURSOR_SECRET refuses, naming it', async (t) => {
  const result = await startWith({
    NODE_ENV: 'production',
    JWT_SECRET: undefined,
    JWT_PUBLIC_KEY: '-----BEGIN PUBLIC KEY-----\\nAAAA\\n-----END PUBLIC KEY-----',
  })
  t.equal(result.code, 1, 'exit code 1')
  const lines = result.stderr.trim().split('\n')
  t.equal(lines.length, 1, `one line on stderr (${result.stderr.trim()})`)
  t.match(lines[0], /\bCURSOR_SECRET\b/, 'names CURSOR_SECRET')
  t.notMatch(result.stdout, /listening/, 'never listened')
})
