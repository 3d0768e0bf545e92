import { Agent, request as httpRequest } from 'node:http'
import type { AddressInfo } from 'node:net'
import Fastify from 'fastify'
import t from 'tap'
import app from '../../app.js'
import { fireBurst, quantile } from '../../bench/overload.js'
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

interface Answer {
  status: number
  body: string
  retryAfter?: string
  ms: number
}

function get(
  agent: Agent,
  port: number,
  path: string,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const started = performance.now()
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port, path, agent, headers, timeout: 30_000 },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (chunk: Buffer) => chunks.push(chunk))
        res.on('end', () => {
          const retryAfter = res.headers['retry-after']
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString('utf8'),
            retryAfter: typeof retryAfter === 'string' ? retryAfter : undefined,
            ms: performance.now() - started,
          })
        })
      },
    )
    req.on('timeout', () => req.destroy(new Error(`${path}: no answer in 30 s`)))
    req.on('error', reject)
    req.end()
  })
}

t.test(
  `${CONNECTIONS} concurrent connections: 200 or 503 Service overloaded, never database unreachable, probes answer`,
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

    const probes = new Agent({ keepAlive: true, maxSockets: 2 })
    t.teardown(() => probes.destroy())

    let loading = true
    const healthMs: number[] = []
    const readyMs: number[] = []
    const probeStatuses: number[] = []
    const probing = (async () => {
      while (loading) {
        const [health, ready] = await Promise.all([
          get(probes, port, '/health'),
          get(probes, port, '/ready'),
        ])
        healthMs.push(health.ms)
        readyMs.push(ready.ms)
        probeStatuses.push(health.status, ready.status)
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
    })()

    const answers = await fireBurst(
      `http://127.0.0.1:${port}/api/customers/${BUSINESS}/${customer.id}`,
      CONNECTIONS,
      authFor(BUSINESS).authorization!,
    )
    loading = false
    await probing

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
    t.ok(
      probeStatuses.every((status) => status === 200),
      '/health and /ready answered 200 throughout',
    )
    // Probe latency depends on what else the shared machine runs: reported, not asserted here;
    // `npm run bench` (its overload scenario, on a quiet machine) holds the 100 ms and 1 s bounds.
    t.comment(
      `probe latency: /health p99 ${quantile(healthMs, 0.99).toFixed(1)} ms, longest ${Math.max(...healthMs).toFixed(1)} ms; /ready p99 ${quantile(readyMs, 0.99).toFixed(1)} ms, longest ${Math.max(...readyMs).toFixed(1)} ms`,
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
