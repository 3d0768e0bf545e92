import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { Worker } from 'node:worker_threads'
import Fastify from 'fastify'
import t from 'tap'
import app from '../../app.js'
import { fireBurst, quantile } from '../../bench/overload.js'
import { startProbeServer } from '../../lib/probe-server.js'
import { serverOptions } from '../../server-options.js'
import { authFor, onPostgres, secondConnection, testConfig, testDatabase } from '../helper.js'
import { createCustomer } from '../support/customers.js'
import { captureLogs } from '../support/logs.js'

const BUSINESS = 5
const CONNECTIONS = Number(process.env.OVERLOAD_CONNECTIONS ?? 2000)
/** The configured longest wait for a pool connection (DB_POOL_WAIT_MS). */
const POOL_WAIT_MS = 2000
/** Requests allowed to wait for a connection (DB_QUEUE_MAX). */
const QUEUE_MAX = 20
/** Time after the wait: the query and the answer, on a shared machine. */
const HELD_MARGIN_MS = 2000

interface ProbeSamples {
  health: { status: number; ms: number }[]
  ready: { status: number; ms: number }[]
  mainHealth: { status: number; ms: number }[]
}

/**
 * Probes `/health` and `/ready` on the probe port and `/health` on the main port every 20 ms,
 * each on a kept-alive connection as a kubelet's, from a thread of its own: the app under test
 * runs in this test's thread, whose event loop the burst keeps busy, and a probe sent from here
 * would wait for it whatever answers. `stop()` ends the rounds and gives every sample.
 */
function probeFromAnotherThread(probePort: number, mainPort: number) {
  const code = `
    const { parentPort, workerData } = require('node:worker_threads')
    const http = require('node:http')
    const agent = new http.Agent({ keepAlive: true, maxSockets: 2 })
    const get = (port, path) => new Promise((resolve) => {
      const started = performance.now()
      const done = (status) => resolve({ status, ms: performance.now() - started })
      const req = http.get({ host: '127.0.0.1', port, path, agent, timeout: 30000 }, (res) => {
        res.resume()
        res.on('end', () => done(res.statusCode))
      })
      req.on('timeout', () => req.destroy(new Error('no answer in 30 s')))
      req.on('error', () => done(0))
    })
    let probing = true
    parentPort.once('message', () => (probing = false))
    ;(async () => {
      const samples = { health: [], ready: [], mainHealth: [] }
      while (probing) {
        const [health, ready, mainHealth] = await Promise.all([
          get(workerData.probePort, '/health'),
          get(workerData.probePort, '/ready'),
          get(workerData.mainPort, '/health'),
        ])
        samples.health.push(health)
        samples.ready.push(ready)
        samples.mainHealth.push(mainHealth)
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
      agent.destroy()
      parentPort.postMessage(samples)
    })()
  `
  const worker = new Worker(code, { eval: true, workerData: { probePort, mainPort } })
  return {
    stop: async (): Promise<ProbeSamples> => {
      worker.postMessage('stop')
      const [samples] = (await once(worker, 'message')) as [ProbeSamples]
      await worker.terminate()
      return samples
    },
  }
}

t.test(
  `${CONNECTIONS} concurrent connections: 200 or 503 Service overloaded, never database unreachable, probes answer on the probe port`,
  async (t) => {
    const logs = captureLogs()
    // A small pool on PostgreSQL; embedded PostgreSQL has its one connection.
    const fileDatabase = await testDatabase()
    const database = onPostgres() ? await secondConnection(3, POOL_WAIT_MS) : fileDatabase
    const server = Fastify(serverOptions({ logLevel: 'warn', stream: logs.stream }))
    await server.register(app, {
      config: testConfig({ dbPoolWaitMs: POOL_WAIT_MS, dbQueueMax: QUEUE_MAX }),
      database,
    })
    // How long the service held each request, from its arrival to its answer.
    const held: number[] = []
    server.addHook('onResponse', async (_request, reply) => {
      held.push(reply.elapsedTime)
    })
    t.teardown(async () => {
      await server.close()
      if (onPostgres()) await database.close()
    })
    const customer = await createCustomer((options) => server.inject(options), BUSINESS, {
      name: 'Amina Njeri',
    })
    // A running service has its connections open: open the small pool's before the burst.
    await Promise.all(
      [1, 2, 3].map(() =>
        server.inject({
          method: 'GET',
          url: `/api/customers/${BUSINESS}/${customer.id}`,
          headers: authFor(BUSINESS),
        }),
      ),
    )
    await server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 })
    const { port } = server.server.address() as AddressInfo
    // The probe port as server.ts runs it (PROBE_PORT): a worker thread, on PostgreSQL with a
    // connection of its own to the same database.
    const probeServer = await startProbeServer({
      host: '127.0.0.1',
      port: 0,
      databaseUrl: database.target.kind === 'postgres' ? database.target.url : undefined,
      // Embedded PostgreSQL runs every query on this thread: under the burst, on a shared CI
      // machine, the loop can stall past the 5 s liveness rule (6.3 s seen). This test is about
      // shedding; the stall rule has its own test (probe-port.test.ts).
      ...(database.target.kind === 'postgres' ? {} : { stallMs: 60_000 }),
    })
    probeServer.setDatabaseOpen(true)
    t.teardown(() => probeServer.close())

    const probing = probeFromAnotherThread(probeServer.port, port)

    const answers = await fireBurst(
      `http://127.0.0.1:${port}/api/customers/${BUSINESS}/${customer.id}`,
      CONNECTIONS,
      authFor(BUSINESS).authorization!,
    )
    const samples = await probing.stop()
    const healthMs = samples.health.map((sample) => sample.ms)
    const readyMs = samples.ready.map((sample) => sample.ms)
    const mainHealthMs = samples.mainHealth.map((sample) => sample.ms)
    const probeStatuses = [...samples.health, ...samples.ready, ...samples.mainHealth].map(
      (sample) => sample.status,
    )

    const ok = answers.filter((answer) => answer.status === 200)
    const shed = answers.filter((answer) => answer.status === 503)
    const others = answers.filter((answer) => answer.status !== 200 && answer.status !== 503)
    t.equal(answers.length, CONNECTIONS, `${CONNECTIONS} answers`)
    t.strictSame(
      others.map((answer) => answer.status),
      [],
      'every answer is 200 or 503',
    )
    t.ok(ok.length > 0, `some requests were served (${ok.length})`)
    // Three connections cannot keep up with 2,000 requests at once; embedded PostgreSQL answers
    // each read before the next arrives, so it may have nothing to shed.
    if (onPostgres()) t.ok(shed.length > 0, `some requests were shed (${shed.length})`)
    else t.comment(`embedded: ${shed.length} requests shed`)
    t.ok(
      shed.every(
        (answer) =>
          answer.error === 'Service overloaded' && /^[1-9]\d*$/.test(answer.retryAfter ?? ''),
      ),
      'every 503 is "Service overloaded" with Retry-After in seconds',
    )
    t.notOk(
      answers.some((answer) => answer.error === 'Service unavailable'),
      'no answer says the database is unreachable',
    )
    t.notOk(
      logs.lines().some((line) => line.includes('The database is unreachable')),
      'the log never says the database is unreachable',
    )
    const overloadLines = logs.lines().filter((line) => line.includes('Service overloaded'))
    t.equal(overloadLines.length >= 1, shed.length > 0, 'the overload is logged when load was shed')
    t.ok(
      overloadLines.length <= 4,
      `one line per episode, not per request (${overloadLines.length} lines for ${shed.length} shed)`,
    )

    // Bounded waiting, not a speed target: a request waits for a connection at most the pool
    // wait limit, then is answered (served or shed); the margin is for the work after the wait
    // on a shared 2-core machine. The bench's overload scenario records the figures.
    const longest = Math.max(...held)
    t.ok(
      longest <= POOL_WAIT_MS + HELD_MARGIN_MS,
      `no request held past the pool wait limit (${POOL_WAIT_MS} ms + ${HELD_MARGIN_MS} ms): p99 ${quantile(held, 0.99).toFixed(0)} ms, longest ${longest.toFixed(0)} ms`,
    )

    t.ok(healthMs.length >= 2, `the probes ran throughout (${healthMs.length} rounds)`)
    t.strictSame(
      probeStatuses.filter((status) => status !== 200),
      [],
      "/health and /ready on the probe port, and the main port's /health, answered 200 throughout",
    )
    // Probe latency depends on what else the shared machine runs: reported, not asserted here;
    // `npm run bench` (its overload scenario, on a quiet machine) holds the 100 ms and 1 s bounds.
    t.comment(
      `probe port latency: /health p99 ${quantile(healthMs, 0.99).toFixed(1)} ms, longest ${Math.max(...healthMs).toFixed(1)} ms; /ready p99 ${quantile(readyMs, 0.99).toFixed(1)} ms, longest ${Math.max(...readyMs).toFixed(1)} ms`,
    )
    t.comment(
      `main port /health, for information: p99 ${quantile(mainHealthMs, 0.99).toFixed(1)} ms, longest ${Math.max(...mainHealthMs).toFixed(1)} ms`,
    )

    const metrics = await server.inject({ method: 'GET', url: '/metrics' })
    const counted = [...metrics.body.matchAll(/^load_shed_total\{reason="[a-z_]+"\} (\d+)$/gm)]
    t.equal(
      counted.reduce((sum, match) => sum + Number(match[1]), 0),
      shed.length,
      '/metrics counts every request shed, by reason',
    )
  },
)

t.test('a full database queue sheds at once; probes and scrapes are never shed', async (t) => {
  const logs = captureLogs()
  const server = Fastify(serverOptions({ logLevel: 'warn', stream: logs.stream }))
  // No request may wait for a connection: every database route is shed.
  await server.register(app, {
    config: testConfig({ dbQueueMax: 0 }),
    database: await testDatabase(),
  })
  t.teardown(() => server.close())
  const headers = authFor(BUSINESS)
  for (const url of [
    `/api/customers/${BUSINESS}`,
    `/api/customers/${BUSINESS}/1`,
    `/api/customers/${BUSINESS}/analytics`,
  ]) {
    const response = await server.inject({ method: 'GET', url, headers })
    t.equal(response.statusCode, 503, `${url}: 503`)
    t.equal(
      response.json<{ error: string }>().error,
      'Service overloaded',
      `${url}: Service overloaded`,
    )
    t.match(response.headers['retry-after'], /^[1-9]\d*$/, `${url}: Retry-After in seconds`)
    t.equal(
      response.json<{ request_id: string }>().request_id,
      response.headers['x-request-id'],
      `${url}: the request id`,
    )
  }
  for (const url of ['/health', '/ready', '/metrics']) {
    const response = await server.inject({ method: 'GET', url })
    t.equal(response.statusCode, 200, `${url}: never shed`)
  }
  const metrics = await server.inject({ method: 'GET', url: '/metrics' })
  t.match(
    metrics.body,
    /load_shed_total\{reason="database_queue"\} 3/,
    '/metrics: three shed for a full queue',
  )
  const overloadLines = logs.lines().filter((line) => line.includes('Service overloaded'))
  t.equal(overloadLines.length, 1, 'one warning for the episode, not one per request')
  t.notOk(
    logs.lines().some((line) => line.includes('unreachable')),
    'nothing says the database is unreachable',
  )
})

t.test('no pool connection in time: 503 Service overloaded, counted as pool_wait', async (t) => {
  if (!onPostgres()) {
    // Embedded PostgreSQL has no pool to wait for; its queue is the in-flight limit above.
    t.pass('embedded: no pg pool to drive')
    return
  }
  await testDatabase()
  const database = await secondConnection(1, 100)
  const logs = captureLogs()
  const server = Fastify(serverOptions({ logLevel: 'warn', stream: logs.stream }))
  await server.register(app, { config: testConfig(), database })
  t.teardown(async () => {
    await server.close()
    await database.close()
  })
  await server.ready()
  const held = await database.pool!.connect()
  const answers = await Promise.all(
    [1, 2].map(() =>
      server.inject({
        method: 'GET',
        url: `/api/customers/${BUSINESS}/analytics`,
        headers: authFor(BUSINESS),
      }),
    ),
  )
  held.release()
  for (const [index, response] of answers.entries()) {
    const name = `request ${index + 1}`
    t.equal(response.statusCode, 503, `${name}: 503`)
    t.equal(response.json<{ error: string }>().error, 'Service overloaded', `${name}: overloaded`)
    t.match(response.headers['retry-after'], /^[1-9]\d*$/, `${name}: Retry-After in seconds`)
  }
  const metrics = await server.inject({ method: 'GET', url: '/metrics' })
  t.match(metrics.body, /load_shed_total\{reason="pool_wait"\} 2/, '/metrics: two pool_wait')
  const overloadLines = logs.lines().filter((line) => line.includes('Service overloaded'))
  t.equal(overloadLines.length, 1, 'one warning for the episode')
  t.notOk(
    logs.lines().some((line) => line.includes('unreachable')),
    'nothing says the database is unreachable',
  )
})
