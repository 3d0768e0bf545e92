import { once } from 'node:events'
import { mkdtempSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Worker } from 'node:worker_threads'
import { sql } from 'kysely'
import t, { type Test } from 'tap'
import { ConfigError, loadConfig } from '../../lib/config.js'
import { databaseUnavailable, errorBody } from '../../lib/http-errors.js'
import { PortUnavailable } from '../../lib/port-check.js'
import {
  describeFailure,
  startProbeServer,
  type ProbeServer,
  type ProbeServerOptions,
} from '../../lib/probe-server.js'
import { ContractValidator } from '../contract.js'
import { build, onPostgres, testDatabase } from '../helper.js'
import { freePort } from '../support/fresh-service.js'
import { runServer, startServer } from './server-process.js'
import { accepts } from '../support/ports.js'

const contract = new ContractValidator()

interface Answer {
  status: number
  headers: Record<string, string | string[] | undefined>
  text: string
  json: () => Record<string, unknown>
}

/** One request on a connection of its own (nothing kept alive past the test). */
function ask(
  port: number,
  path: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        path,
        method: options.method ?? 'GET',
        headers: options.headers,
        agent: false,
        timeout: 10_000,
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (chunk: Buffer) => chunks.push(chunk))
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8')
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text,
            json: () => JSON.parse(text) as Record<string, unknown>,
          })
        })
      },
    )
    req.on('timeout', () => req.destroy(new Error(`${path}: no answer in 10 s`)))
    req.on('error', reject)
    req.end(options.body)
  })
}

async function probeServer(
  t: Test,
  options: Partial<ProbeServerOptions> = {},
): Promise<ProbeServer> {
  const probes = await startProbeServer({ host: '127.0.0.1', port: 0, ...options })
  t.teardown(() => probes.close())
  return probes
}

/** Checks an answer against the contract's schema for that operation and status. */
function matchesContract(t: Test, name: string, path: string, answer: Answer): void {
  t.strictSame(
    contract.check('GET', path, answer.status, answer.json()),
    [],
    `${name}: as documented`,
  )
}

/** A PostgreSQL URL on 127.0.0.1 where nothing listens, with a password that must never show. */
async function unreachableDatabaseUrl(): Promise<{ url: string; password: string }> {
  const password = 'never-shown-Pr0be-secret'
  return { url: `postgres://probe:${password}@127.0.0.1:${await freePort()}/payme`, password }
}

t.test('/health: 200 {"status":"ok"}, as on the main port', async (t) => {
  const probes = await probeServer(t)
  const main = await build(t)
  const answer = await ask(probes.port, '/health')
  t.equal(answer.status, 200, 'status 200')
  t.strictSame(answer.json(), { status: 'ok' }, 'body')
  matchesContract(t, '/health', '/health', answer)
  t.match(answer.headers['content-type'], /^application\/json/, 'JSON')
  t.match(answer.headers['x-request-id'], /^[0-9a-f-]{36}$/, 'a request id')
  const mainAnswer = await main.inject({ method: 'GET', url: '/health' })
  t.equal(answer.text, mainAnswer.body, 'the same body as the main port')

  for (const path of ['/health/', '/health?from=kubelet']) {
    t.equal((await ask(probes.port, path)).status, 200, `${path}: 200, as on the main port`)
  }
  const head = await ask(probes.port, '/health', { method: 'HEAD' })
  t.equal(head.status, 200, 'HEAD: 200')
  t.equal(head.text, '', 'HEAD: no body')
  const named = await ask(probes.port, '/health', { headers: { 'x-request-id': 'kubelet-1' } })
  t.equal(named.headers['x-request-id'], 'kubelet-1', 'a safe x-request-id is kept')
})

t.test('/ready on embedded PostgreSQL: the database flag the main thread sets', async (t) => {
  const probes = await probeServer(t)
  const notYet = await ask(probes.port, '/ready', { headers: { 'x-request-id': 'ready-1' } })
  t.equal(notYet.status, 503, 'before the database is open: 503')
  t.strictSame(
    notYet.json(),
    errorBody(databaseUnavailable(), 'ready-1'),
    "the main port's body for an unreachable database",
  )
  t.equal(notYet.headers['retry-after'], '5', 'Retry-After')
  matchesContract(t, '/ready 503', '/ready', notYet)

  probes.setDatabaseOpen(true)
  const ready = await ask(probes.port, '/ready')
  t.equal(ready.status, 200, 'database open: 200')
  t.strictSame(ready.json(), { status: 'ok' }, 'body')
  matchesContract(t, '/ready 200', '/ready', ready)

  probes.setDatabaseOpen(false)
  const closed = await ask(probes.port, '/ready')
  t.equal(closed.status, 503, 'database closed: 503')
  t.equal(closed.json().message, 'The database is unreachable; retry shortly', 'says so')
  t.equal((await ask(probes.port, '/health')).status, 200, '/health does not depend on it')
})

t.test('/ready on PostgreSQL: the database, asked on one connection of its own', async (t) => {
  if (!onPostgres()) {
    t.pass('embedded: no PostgreSQL to ask (the unreachable case below runs everywhere)')
    return
  }
  const database = await testDatabase()
  if (database.target.kind !== 'postgres') throw new Error('expected PostgreSQL')
  const probes = await probeServer(t, { databaseUrl: database.target.url })
  probes.setDatabaseOpen(true)
  const answers = await Promise.all(Array.from({ length: 20 }, () => ask(probes.port, '/ready')))
  t.strictSame(
    answers.map((answer) => answer.status),
    Array(20).fill(200),
    '20 at once: all 200',
  )

  const probeConnections = async (): Promise<number> => {
    const { rows } = await sql<{ n: number }>`select count(*)::int as n from pg_stat_activity
      where application_name = 'payme-customers-probe' and datname = current_database()`.execute(
      database.db,
    )
    return rows[0]?.n ?? -1
  }
  t.equal(await probeConnections(), 1, 'one connection, however many probes')

  // The probe's backend dies (a restart, a failover): the next probe reconnects at once.
  await sql`select pg_terminate_backend(pid) from pg_stat_activity
    where application_name = 'payme-customers-probe' and datname = current_database()`.execute(
    database.db,
  )
  const afterwards = await ask(probes.port, '/ready')
  t.equal(afterwards.status, 200, 'the next probe reconnects and answers 200')
  t.equal((await ask(probes.port, '/ready')).status, 200, 'and the one after')
  t.equal(await probeConnections(), 1, 'still one connection')
})

t.test('/ready with PostgreSQL unreachable: 503 in the error shape, no secret', async (t) => {
  const { url, password } = await unreachableDatabaseUrl()
  const probes = await probeServer(t, { databaseUrl: url })
  probes.setDatabaseOpen(true)
  for (const round of [1, 2]) {
    const started = performance.now()
    const answer = await ask(probes.port, '/ready', {
      headers: { 'x-request-id': `down-${round}` },
    })
    const ms = performance.now() - started
    t.equal(answer.status, 503, `round ${round}: 503`)
    t.strictSame(answer.json(), errorBody(databaseUnavailable(), `down-${round}`), 'the body')
    t.equal(answer.headers['retry-after'], '5', 'Retry-After')
    matchesContract(t, `round ${round}`, '/ready', answer)
    t.notOk(answer.text.includes(password) || answer.text.includes('127.0.0.1:'), 'no URL')
    t.comment(`round ${round}: answered in ${ms.toFixed(0)} ms`)
  }
  t.equal((await ask(probes.port, '/health')).status, 200, '/health stays 200')
})

t.test('other paths: 404; other methods: 405 with Allow, as on the main port', async (t) => {
  const probes = await probeServer(t)
  const main = await build(t)
  for (const path of ['/', '/healthz', '/metrics', '/api/customers/5', '/health/deeper']) {
    const answer = await ask(probes.port, path, { headers: { 'x-request-id': 'nf-1' } })
    t.equal(answer.status, 404, `${path}: 404`)
    t.strictSame(answer.json(), { error: 'Not found', request_id: 'nf-1' }, `${path}: body`)
  }
  for (const path of ['/health', '/ready']) {
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']) {
      const name = `${method} ${path}`
      const headers = { 'x-request-id': 'na-1', 'content-type': 'application/json' }
      const answer = await ask(probes.port, path, { method, headers, body: '{}' })
      t.equal(answer.status, 405, `${name}: 405`)
      t.equal(answer.headers.allow, 'GET, HEAD', `${name}: Allow`)
      const mainAnswer = await main.app.inject({ method, url: path, headers, payload: '{}' })
      t.equal(mainAnswer.statusCode, 405, `${name}: 405 on the main port too`)
      t.strictSame(answer.json(), mainAnswer.json(), `${name}: the main port's body`)
    }
  }
})

/**
 * A thread of its own that, once told, waits `delayMs` and then asks /health and /ready: it
 * probes while this test's main thread is blocked, as a kubelet would.
 */
function laterProber(port: number, delayMs: number): Worker {
  const code = `
    const { parentPort, workerData } = require('node:worker_threads')
    const http = require('node:http')
    const ask = (path) => new Promise((resolve) => {
      http.get({ host: '127.0.0.1', port: workerData.port, path, agent: false }, (res) => {
        let text = ''
        res.on('data', (chunk) => (text += chunk))
        res.on('end', () => resolve({ path, status: res.statusCode, text, retryAfter: res.headers['retry-after'] }))
      }).on('error', (error) => resolve({ path, status: 0, text: error.message }))
    })
    parentPort.once('message', () => setTimeout(async () => {
      const answers = await Promise.all([ask('/health'), ask('/ready')])
      parentPort.postMessage({ answers, at: Date.now() })
    }, workerData.delayMs))
  `
  return new Worker(code, { eval: true, workerData: { port, delayMs } })
}

t.test('/health answers 503 while the main thread is stuck, 200 once it runs again', async (t) => {
  // Margins for a busy shared machine: a 1 s stall limit, probed 2 s into a 4 s block.
  const probes = await probeServer(t, { stallMs: 1000 })
  probes.setDatabaseOpen(true)
  t.equal((await ask(probes.port, '/health')).status, 200, 'running: 200')

  const prober = laterProber(probes.port, 2000)
  t.teardown(() => prober.terminate())
  await new Promise((resolve) => setTimeout(resolve, 200)) // the prober's thread starts
  prober.postMessage('go')
  // The main thread is stuck for 4 s: no timer, no heartbeat.
  const blockedUntil = Date.now() + 4000
  while (Date.now() < blockedUntil) {
    // busy
  }
  const [report] = (await once(prober, 'message')) as [
    { answers: { path: string; status: number; text: string; retryAfter?: string }[]; at: number },
  ]
  t.ok(report.at < blockedUntil, 'the prober was answered while the main thread was stuck')
  const [health, ready] = report.answers
  t.equal(health?.status, 503, '/health: 503')
  const body = JSON.parse(health?.text ?? '{}') as Record<string, unknown>
  t.equal(body.error, 'Service unavailable', '/health: the contract title')
  t.equal(body.message, 'The service is not responding; retry shortly', '/health: says why')
  t.equal(health?.retryAfter, '5', '/health: Retry-After')
  t.strictSame(contract.check('GET', '/health', 503, body), [], '/health 503: as documented')
  t.equal(ready?.status, 503, '/ready: 503 as well')

  let after = await ask(probes.port, '/health')
  for (let attempt = 0; attempt < 20 && after.status !== 200; attempt += 1) {
    await new Promise((resolve) => setTimeout(resolve, 50))
    after = await ask(probes.port, '/health')
  }
  t.equal(after.status, 200, 'running again: 200')
})

t.test('close: the thread ends, its port is free; a failed thread is logged', async (t) => {
  const probes = await startProbeServer({ host: '127.0.0.1', port: 0 })
  t.ok(await accepts(probes.port), 'listening')
  await probes.close()
  await probes.close()
  t.notOk(await accepts(probes.port), 'closed: the port refuses connections')
  t.equal(probes.worker.threadId, -1, 'the thread has ended')

  const logged: { details: Record<string, unknown>; message: string }[] = []
  const failing = await startProbeServer({
    host: '127.0.0.1',
    port: 0,
    log: { error: (details, message) => logged.push({ details, message }) },
  })
  t.teardown(() => failing.close())
  await failing.worker.terminate()
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(logged.length, 1, 'one line')
  t.match(logged[0]?.message, /probe server stopped/, 'says the probe server stopped')
  t.pass('this process goes on')
})

t.test("a failure's description never carries the database URL or its password", async (t) => {
  const url = 'postgres://payme:p%40ss-w0rd@db.internal:5432/payme'
  const error = new Error(`could not parse ${url} (password p@ss-w0rd)`)
  const described = JSON.stringify(describeFailure(error, url))
  t.notOk(described.includes(url), 'no URL')
  t.notOk(described.includes('p@ss-w0rd') || described.includes('p%40ss-w0rd'), 'no password')
  t.match(described, /could not parse \[redacted\]/, 'the rest of the message stays')
})

t.test('a probe port in use: PortUnavailable naming PROBE_PORT', async (t) => {
  const holder = createServer()
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise((resolve) => holder.close(resolve)))
  const { port } = holder.address() as { port: number }
  const error = await startProbeServer({ host: '127.0.0.1', port }).catch((caught) => caught)
  t.ok(error instanceof PortUnavailable, 'PortUnavailable')
  t.equal(
    (error as Error).message,
    `Port ${port} on 127.0.0.1 is in use by another process; stop it or set PROBE_PORT`,
    'one line naming PROBE_PORT',
  )
})

t.test('PROBE_PORT: a port, never the service port', async (t) => {
  const base = { DATA_DIR: '/tmp/payme-config-values', JWT_SECRET: 'x'.repeat(32) }
  const says =
    'Invalid configuration: PROBE_PORT must be a whole number from 0 to 65535, not the same as PORT'
  const good: [Record<string, string>, number | undefined][] = [
    [{}, undefined],
    [{ PROBE_PORT: '3001' }, 3001],
    [{ PORT: '8080', PROBE_PORT: '3000' }, 3000],
    [{ PORT: '0', PROBE_PORT: '0' }, 0],
  ]
  for (const [variables, expected] of good) {
    t.equal(loadConfig({ ...base, ...variables }).probePort, expected, JSON.stringify(variables))
  }
  const bad: Record<string, string>[] = [
    { PROBE_PORT: 'management' },
    { PROBE_PORT: '70000' },
    { PROBE_PORT: '-1' },
    { PROBE_PORT: '3001.5' },
    { PROBE_PORT: '' },
    { PROBE_PORT: '3000' },
    { PORT: '8080', PROBE_PORT: '8080' },
  ]
  for (const variables of bad) {
    const name = JSON.stringify(variables)
    const error = (() => {
      try {
        loadConfig({ ...base, ...variables })
        return undefined
      } catch (caught) {
        return caught
      }
    })()
    t.ok(error instanceof ConfigError, `${name}: refused`)
    t.equal((error as Error | undefined)?.message, says, `${name}: in words`)
  }
})

t.test('server.ts with PROBE_PORT: the banner line, both probes, SIGTERM ends it', async (t) => {
  await build(t) // this file's database (and its teardown), shared with the server on PostgreSQL
  const server = await startServer(t, { PROBE_PORT: '0' })
  const line = /^ {2}Probes: {5}http:\/\/localhost:(\d+)\/health and \/ready \(worker thread\)$/m
  const match = line.exec(server.stdout())
  t.ok(match, `the banner names the probe port:\n${server.stdout()}`)
  const probePort = Number(match?.[1])
  t.not(probePort, server.port, 'a port of its own')
  t.equal((await ask(probePort, '/health')).status, 200, '/health: 200')
  t.equal((await ask(probePort, '/ready')).status, 200, '/ready: 200')
  const { target } = await testDatabase()
  if (target.kind === 'postgres') {
    const output = server.stdout() + server.stderr()
    t.notOk(output.includes(target.url), 'the database URL is never printed')
  }
  server.child.kill('SIGTERM')
  t.equal(await server.exited, 0, 'exit 0 (the thread closed with the service)')
  t.notOk(await accepts(probePort), 'the probe port is closed')
})

t.test('server.ts with the probe port taken: one line naming PROBE_PORT, exit 1', async (t) => {
  const holder = createServer()
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise((resolve) => holder.close(resolve)))
  const { port } = holder.address() as { port: number }
  const { child, output, exited } = runServer({
    HOST: '127.0.0.1',
    PORT: '0',
    PROBE_PORT: String(port),
    DATA_DIR: mkdtempSync(join(tmpdir(), 'payme-probe-port-')),
    JWT_SECRET: 'a-test-secret-of-at-least-thirty-two-characters',
  })
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
  t.equal(await exited, 1, 'exit 1')
  clearTimeout(timer)
  t.equal(
    output.stderr.trim(),
    `Port ${port} on 127.0.0.1 is in use by another process; stop it or set PROBE_PORT`,
    'one line on stderr',
  )
  t.notMatch(output.stdout, /listening/, 'never listened')
})
