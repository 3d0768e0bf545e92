import { existsSync, mkdtempSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { bearer, TEST_JWT_SECRET, tokenFor } from '../helper.js'
import { runServer, startEmbeddedServer, type ServerProcess } from './server-process.js'

/**
 * One process per embedded database (issue 12): a second start on a held DATA_DIR, or on a
 * taken port, says what holds it in one line and exits 1 without opening the database; the
 * first process keeps serving. These run on embedded PostgreSQL whatever the suite runs on.
 */

const tempDir = (): string => mkdtempSync(join(tmpdir(), 'payme-single-'))
const auth = bearer(tokenFor({ sub: 1, businesses: [5] }))

/** `npm start`'s environment: development, no DATABASE_URL, the test JWT secret. */
const development = (dataDir: string, port = '0'): Record<string, string> => ({
  NODE_ENV: 'development',
  HOST: '127.0.0.1',
  PORT: port,
  DATA_DIR: dataDir,
  JWT_SECRET: TEST_JWT_SECRET,
})

interface Refused {
  code: number | null
  stdout: string
  stderr: string
  milliseconds: number
}

/** Runs server.ts (or a script) that is expected to stop on its own; killed after 60 s. */
async function runToExit(
  t: Test,
  env: Record<string, string>,
  entry = 'server.ts',
): Promise<Refused> {
  const started = Date.now()
  const run = runServer(env, entry)
  const timer = setTimeout(() => run.child.kill('SIGKILL'), 60_000)
  t.teardown(() => clearTimeout(timer))
  const code = await run.exited
  return { code, ...run.output, milliseconds: Date.now() - started }
}

async function createCustomer(server: ServerProcess, name: string): Promise<number> {
  const response = await fetch(`${server.url}/api/customers/5`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ name, phone: '0712 345 678' }),
  })
  if (response.status !== 201) throw new Error(`create answered ${response.status}`)
  return ((await response.json()) as { customer: { id: number } }).customer.id
}

async function customerName(server: ServerProcess, id: number): Promise<unknown> {
  const response = await fetch(`${server.url}/api/customers/5/${id}`, { headers: auth })
  return response.status === 200
    ? ((await response.json()) as { customer: { name: string } }).customer.name
    : `status ${response.status}`
}

const readyStatus = async (server: ServerProcess): Promise<number> =>
  (await fetch(`${server.url}/ready`)).status

function assertOneLine(t: Test, refused: Refused, expected: string, name: string): void {
  t.equal(refused.code, 1, `${name}: exit code 1`)
  const lines = refused.stderr.trim().split('\n')
  t.equal(lines.length, 1, `${name}: one line on stderr (${refused.stderr.trim()})`)
  t.equal(lines[0], expected, `${name}: the line says what holds it`)
  t.notMatch(refused.stderr, /\bat .*\.(ts|js):\d+/, `${name}: no stack trace`)
}

t.test(
  'a second start on the same DATA_DIR is refused in one line; the first serves on',
  async (t) => {
    const dataDir = tempDir()
    const lock = join(dataDir, 'pgdata.lock')
    const first = await startEmbeddedServer(t, dataDir)

    const output = first.stdout()
    const banner = output.indexOf('PayMe Customers listening on')
    const opening = output.search(/^(Opening|Creating) embedded PostgreSQL in .*\/pgdata/m)
    const plan = output.search(/^(Database up to date|Migrating: \d+ steps?)$/m)
    t.ok(opening >= 0 && opening < banner, 'development: says it opens the embedded database first')
    t.ok(plan > opening && plan < banner, 'then the migration plan, in words, before the banner')
    t.notMatch(output, /"msg":"migration /, 'no JSON migration lines in development')
    t.ok(existsSync(lock), 'the running service holds DATA_DIR/pgdata.lock')

    const id = await createCustomer(first, 'Wanjiru Kamau')
    const expected = `Another PayMe Customers process holds ${dataDir} (lock ${lock}, freed when it stops or 30 s after it crashed); stop it or set DATA_DIR`

    const second = await runToExit(t, development(dataDir))
    assertOneLine(t, second, expected, 'second npm start')
    t.ok(second.milliseconds < 20_000, `refused within seconds (${second.milliseconds} ms)`)
    t.notMatch(second.stdout, /Opening|Creating|Migrating|listening/, 'never opened the database')

    const migrate = await runToExit(t, development(dataDir), 'scripts/migrate.ts')
    assertOneLine(t, migrate, expected, 'npm run migrate')

    t.equal(await readyStatus(first), 200, 'the first still answers /ready 200')
    t.equal(await customerName(first, id), 'Wanjiru Kamau', 'its customer is still readable')
    t.equal(await createCustomer(first, 'Otieno Ouma'), id + 1, 'and it still writes, ids in order')

    first.child.kill('SIGTERM')
    await first.exited
    t.notOk(existsSync(lock), 'a stopped service leaves no lock behind')

    // Production: the same folder starts again; the progress lines stay in the JSON log.
    const again = await startEmbeddedServer(t, dataDir, { NODE_ENV: 'production' })
    t.equal(await customerName(again, id), 'Wanjiru Kamau', 'the data survived, readable again')
    const messages = again
      .stdout()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => (JSON.parse(line) as { msg?: string }).msg)
    t.ok(messages.includes(`Opening embedded PostgreSQL in ${dataDir}/pgdata`), 'production: JSON')
    t.ok(messages.includes('Database up to date'), 'production: the plan as a JSON log line')
  },
)

t.test('a start on a port another process holds is refused before the database', async (t) => {
  const holder = createServer()
  await new Promise<void>((resolve) => holder.listen({ host: '127.0.0.1', port: 0 }, resolve))
  t.teardown(() => new Promise<void>((resolve) => holder.close(() => resolve())))
  const { port } = holder.address() as AddressInfo
  const dataDir = tempDir()

  const refused = await runToExit(t, development(dataDir, String(port)))
  assertOneLine(
    t,
    refused,
    `Port ${port} on 127.0.0.1 is in use by another process; stop it or set PORT`,
    'port taken',
  )
  t.notMatch(refused.stdout, /Opening|Creating|Migrating|listening/, 'never opened the database')
  t.notOk(existsSync(join(dataDir, 'pgdata')), 'no pgdata was created')
  t.notOk(existsSync(join(dataDir, 'pgdata.lock')), 'no lock was left')
})
