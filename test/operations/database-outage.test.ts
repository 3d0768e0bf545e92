import { createServer, Socket, type Server } from 'node:net'
import type { LightMyRequestResponse } from 'fastify'
import type { KyselyPlugin } from 'kysely'
import pg from 'pg'
import t, { type Test } from 'tap'
import { connectDatabase, type DatabaseConnection } from '../../db/connect.js'
import { authFor, build, onPostgres, testDatabase, type TestServer } from '../helper.js'
import { createCustomerId } from '../support/customers.js'

const BUSINESS = 47

function assertUnavailable(t: Test, response: LightMyRequestResponse, name: string): void {
  t.equal(response.statusCode, 503, `${name}: 503`)
  t.match(response.headers['retry-after'], /^[1-9]\d*$/, `${name}: Retry-After in seconds`)
  const body = response.json() as Record<string, unknown>
  t.equal(body.error, 'Service unavailable', `${name}: error`)
  t.equal(body.request_id, response.headers['x-request-id'], `${name}: request_id`)
}

/** The operations a client would be making when the database goes away. */
function requests(server: TestServer, customerId: number) {
  const auth = authFor(BUSINESS)
  return {
    ready: () => server.inject({ method: 'GET', url: '/ready' }),
    read: () =>
      server.inject({
        method: 'GET',
        url: `/api/customers/${BUSINESS}/${customerId}`,
        headers: auth,
      }),
    list: () => server.inject({ method: 'GET', url: `/api/customers/${BUSINESS}`, headers: auth }),
    create: () =>
      server.inject({
        method: 'POST',
        url: `/api/customers/${BUSINESS}`,
        headers: auth,
        payload: { name: 'Njeri' },
      }),
  }
}

async function assertAllUnavailable(t: Test, server: TestServer, customerId: number) {
  for (const [name, request] of Object.entries(requests(server, customerId))) {
    assertUnavailable(t, await request(), name)
  }
  t.equal((await server.inject({ method: 'GET', url: '/health' })).statusCode, 200, 'health: 200')
}

async function assertAllServed(t: Test, server: TestServer, customerId: number, when: string) {
  const expected: Record<string, number> = { ready: 200, read: 200, list: 200, create: 201 }
  for (const [name, request] of Object.entries(requests(server, customerId))) {
    t.equal((await request()).statusCode, expected[name], `${when}: ${name}`)
  }
}

async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

t.test('a pool pointed at a closed port: /ready and routes answer 503', async (t) => {
  const port = await closedPort()
  const database = await connectDatabase({
    kind: 'postgres',
    url: `postgres://postgres@127.0.0.1:${port}/payme`,
    poolMax: 2,
  })
  t.teardown(() => database.db.destroy())
  const server = await build(t, { database })
  await assertAllUnavailable(t, server, 1)
})

t.test('connections refused, then the database is back: served again, no restart', async (t) => {
  const real = await testDatabase()
  let down = false
  const refusing: KyselyPlugin = {
    transformQuery({ node }) {
      if (down) {
        throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), {
          code: 'ECONNREFUSED',
        })
      }
      return node
    },
    async transformResult({ result }) {
      return result
    },
  }
  const database: DatabaseConnection = {
    ...real,
    db: real.db.withPlugin(refusing),
    // /ready pings on a connection of its own, refused like the others while down.
    ping: async (milliseconds) => {
      if (down) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })
      await real.ping(milliseconds)
    },
  }
  const server = await build(t, { database })
  const customerId = await createCustomerId(server.inject, BUSINESS, { name: 'Outage Subject' })
  await assertAllServed(t, server, customerId, 'before')
  down = true
  await assertAllUnavailable(t, server, customerId)
  down = false
  await assertAllServed(t, server, customerId, 'after')
})

/** A TCP relay to PostgreSQL that can be cut (port closed, connections dropped) and restored. */
class Relay {
  private server: Server | undefined
  private readonly sockets = new Set<Socket>()
  port = 0

  constructor(
    private readonly host: string,
    private readonly targetPort: number,
  ) {}

  async open(): Promise<void> {
    const server = createServer((client) => {
      const upstream = new Socket()
      upstream.connect(this.targetPort, this.host)
      for (const socket of [client, upstream]) {
        this.sockets.add(socket)
        socket.on('close', () => this.sockets.delete(socket))
        socket.on('error', () => {
          client.destroy()
          upstream.destroy()
        })
      }
      client.pipe(upstream).pipe(client)
    })
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve))
    this.port = (server.address() as { port: number }).port
    this.server = server
  }

  async cut(): Promise<void> {
    const server = this.server
    this.server = undefined
    for (const socket of this.sockets) socket.destroy()
    if (server) await new Promise((resolve) => server.close(resolve))
  }
}

t.test('PostgreSQL goes away mid-traffic and comes back', async (t) => {
  if (!onPostgres()) {
    // Embedded PostgreSQL lives in the process: the refused-connection test above covers it.
    t.pass('embedded: no server to cut')
    return
  }
  const { target } = await testDatabase()
  if (target.kind !== 'postgres') throw new Error('expected PostgreSQL')
  const url = new URL(target.url)
  const relay = new Relay(url.hostname, Number(url.port || 5432))
  await relay.open()
  t.teardown(() => relay.cut())
  url.host = `127.0.0.1:${relay.port}`
  const database = await connectDatabase({ kind: 'postgres', url: url.toString(), poolMax: 4 })
  t.teardown(() => database.db.destroy())
  const server = await build(t, { database })
  const customerId = await createCustomerId(server.inject, BUSINESS, { name: 'Outage Subject' })
  await assertAllServed(t, server, customerId, 'before')

  // Requests in flight while the connections drop: each is served or a 503, never a 500.
  const inFlight = Array.from({ length: 12 }, (_, index) =>
    index % 2 === 0 ? requests(server, customerId).read() : requests(server, customerId).create(),
  )
  await relay.cut()
  const statuses = (await Promise.all(inFlight)).map((response) => response.statusCode)
  t.ok(
    statuses.every((status) => [200, 201, 503].includes(status)),
    `in flight: served or 503 (${statuses.join(', ')})`,
  )
  await assertAllUnavailable(t, server, customerId)

  await relay.open()
  await assertAllServed(t, server, customerId, 'after the relay is back')
})

t.test('backends terminated by PostgreSQL (pg_terminate_backend): 503, then served', async (t) => {
  if (!onPostgres()) {
    t.pass('embedded: no backends to terminate')
    return
  }
  const { target } = await testDatabase()
  if (target.kind !== 'postgres') throw new Error('expected PostgreSQL')
  const database = await connectDatabase({ kind: 'postgres', url: target.url, poolMax: 4 })
  t.teardown(() => database.db.destroy())
  const server = await build(t, { database })
  const customerId = await createCustomerId(server.inject, BUSINESS, { name: 'Outage Subject' })
  await assertAllServed(t, server, customerId, 'before')

  const admin = new pg.Client({ connectionString: target.url })
  await admin.connect()
  t.teardown(() => admin.end())
  const terminate = () =>
    admin.query(
      `select pg_terminate_backend(pid) from pg_stat_activity
        where datname = current_database() and pid <> pg_backend_pid()`,
    )
  const statuses: number[] = []
  for (let round = 0; round < 5; round += 1) {
    const inFlight = Array.from({ length: 6 }, () => requests(server, customerId).read())
    await terminate()
    statuses.push(...(await Promise.all(inFlight)).map((response) => response.statusCode))
  }
  t.ok(
    statuses.every((status) => status === 200 || status === 503),
    `served or 503, never a 500 (${[...new Set(statuses)].join(', ')})`,
  )
  for (const response of await Promise.all(
    Array.from({ length: 6 }, () => requests(server, customerId).read()),
  )) {
    if (response.statusCode === 503) assertUnavailable(t, response, 'terminated backend')
  }
  await assertAllServed(t, server, customerId, 'after the terminations')
})
