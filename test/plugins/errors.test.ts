import { setTimeout as sleep } from 'node:timers/promises'
import {
  Kysely,
  PostgresDialect,
  sql,
  type KyselyPlugin,
  type PostgresPool,
  type PostgresPoolClient,
} from 'kysely'
import type { LightMyRequestResponse } from 'fastify'
import t, { type Test } from 'tap'
import type { DatabaseConnection } from '../../db/connect.js'
import type { Database } from '../../db/database.js'
import { authFor, build, fileServer, testDatabase } from '../helper.js'
import { createCustomerId } from '../support/customers.js'

const SAFE_ID = /^[A-Za-z0-9._-]{1,64}$/

/** The real database, except that queries of the given kinds (all, if none given) throw. */
async function failingQueries(error: unknown, kinds?: string[]): Promise<DatabaseConnection> {
  const connection = await testDatabase()
  const plugin: KyselyPlugin = {
    transformQuery({ node }) {
      if (!kinds || kinds.includes(node.kind)) throw error
      return node
    },
    async transformResult({ result }) {
      return result
    },
  }
  // /ready pings on a connection of its own: it fails with the queries.
  const ping = async (): Promise<void> => {
    throw error
  }
  return { ...connection, db: connection.db.withPlugin(plugin), ping }
}

/** A pg pool whose server cannot be reached, whose backend is gone, or that never answers. */
function unreachableDatabase(failure: {
  connect?: Error
  query?: Error
  hang?: true
}): DatabaseConnection {
  const client = {
    query: async () => {
      throw failure.query
    },
    release: () => {},
  } as unknown as PostgresPoolClient
  const pool: PostgresPool = {
    connect: () => {
      if (failure.hang) return new Promise<PostgresPoolClient>(() => {})
      return failure.connect ? Promise.reject(failure.connect) : Promise.resolve(client)
    },
    end: async () => {},
    options: {},
  }
  const dialect = new PostgresDialect({ pool })
  const db = new Kysely<Database>({ dialect })
  return {
    db,
    dialect,
    target: { kind: 'postgres', url: 'postgres://db.invalid/payme', poolMax: 1 },
    // Like the real probe: a database that never answers is given up on in time.
    ping: async (milliseconds) => {
      const timeout = sleep(milliseconds).then(() => {
        throw new Error('the database did not answer in time')
      })
      await Promise.race([sql`select 1`.execute(db), timeout])
    },
    close: () => db.destroy(),
  }
}

const withCode = (message: string, code: string, extra: Record<string, unknown> = {}): Error =>
  Object.assign(new Error(message), { code, ...extra })

function errorBody(response: LightMyRequestResponse): Record<string, unknown> {
  return response.json() as Record<string, unknown>
}

function assertRequestIdInBody(t: Test, response: LightMyRequestResponse, name: string): void {
  t.equal(
    errorBody(response).request_id,
    response.headers['x-request-id'],
    `${name}: body request_id is the x-request-id header`,
  )
}

t.test('x-request-id: a safe incoming id is kept, anything else replaced', async (t) => {
  const server = await fileServer(t)
  const ids: { name: string; sent: string; kept: boolean }[] = [
    { name: 'a plain id', sent: 'abc-123', kept: true },
    { name: 'dots, underscores, capitals', sent: 'Req.1_A-b', kept: true },
    { name: '64 characters', sent: 'a'.repeat(64), kept: true },
    { name: '65 characters', sent: 'a'.repeat(65), kept: false },
    { name: '200 characters', sent: 'x'.repeat(200), kept: false },
    { name: 'a header injection', sent: 'a b\r\nX-Injected: y', kept: false },
    { name: 'a space', sent: 'a b', kept: false },
    { name: 'a slash', sent: 'abc/def', kept: false },
    { name: 'empty', sent: '', kept: false },
  ]
  const endpoints: {
    name: string
    url: string
    headers: Record<string, string>
    status: number
  }[] = [
    { name: 'success', url: '/health', headers: {}, status: 200 },
    { name: 'unknown path', url: '/nope', headers: {}, status: 404 },
    { name: 'no token', url: '/api/customers/5', headers: {}, status: 401 },
    { name: 'invalid id', url: '/api/customers/abc', headers: authFor(5), status: 400 },
    { name: 'not granted', url: '/api/customers/5', headers: authFor(6), status: 403 },
  ]
  for (const endpoint of endpoints) {
    for (const id of ids) {
      const name = `${endpoint.name}, ${id.name}`
      const response = await server.inject({
        method: 'GET',
        url: endpoint.url,
        headers: { ...endpoint.headers, 'x-request-id': id.sent },
      })
      t.equal(response.statusCode, endpoint.status, `${name}: status`)
      const header = response.headers['x-request-id']
      if (id.kept) t.equal(header, id.sent, `${name}: the incoming id is echoed`)
      else {
        t.not(header, id.sent, `${name}: the incoming id is replaced`)
        t.match(header, SAFE_ID, `${name}: by a safe generated id`)
      }
      t.notOk('x-injected' in response.headers, `${name}: no header injected`)
      if (endpoint.status >= 400) assertRequestIdInBody(t, response, name)
    }
  }
  const first = await server.inject({ method: 'GET', url: '/health' })
  const second = await server.inject({ method: 'GET', url: '/health' })
  t.match(first.headers['x-request-id'], SAFE_ID, 'no incoming id: one is generated')
  t.not(
    first.headers['x-request-id'],
    second.headers['x-request-id'],
    'no incoming id: each request gets its own',
  )
})

t.test('an unknown path is a 404 "Not found"', async (t) => {
  const server = await fileServer(t)
  const cases: { method: 'GET' | 'POST' | 'PUT' | 'DELETE'; url: string; auth: boolean }[] = [
    { method: 'GET', url: '/nope', auth: false },
    { method: 'POST', url: '/nope', auth: false },
    { method: 'PUT', url: '/nope/', auth: false },
    { method: 'GET', url: '/api', auth: false },
    { method: 'GET', url: '/api/customers', auth: true },
    { method: 'GET', url: '/api/customers/5/1/unknown', auth: true },
    { method: 'DELETE', url: '/api/customers/5/1/notes/2', auth: true },
  ]
  for (const { method, url, auth } of cases) {
    const name = `${method} ${url}`
    const response = await server.inject({ method, url, headers: auth ? authFor(5) : {} })
    t.equal(response.statusCode, 404, `${name}: status`)
    t.strictSame(
      response.json(),
      { error: 'Not found', request_id: response.headers['x-request-id'] },
      `${name}: body`,
    )
  }
})

t.test(
  'a known path asked with another method is a 405 whose Allow lists its methods',
  async (t) => {
    const server = await fileServer(t)
    type Method = 'PUT' | 'DELETE' | 'TRACE' | 'OPTIONS' | 'POST' | 'PATCH'
    const cases: { method: Method; url: string; allow: string; auth: boolean }[] = [
      { method: 'PUT', url: '/api/customers/5', allow: 'GET, HEAD, POST', auth: true },
      { method: 'TRACE', url: '/api/customers/5/', allow: 'GET, HEAD, POST', auth: false },
      { method: 'OPTIONS', url: '/api/customers/5', allow: 'GET, HEAD, POST', auth: true },
      { method: 'PUT', url: '/api/customers/5/1', allow: 'DELETE, GET, HEAD, PATCH', auth: true },
      { method: 'PUT', url: '/api/customers/5/1/notes?x=1', allow: 'GET, HEAD, POST', auth: true },
      { method: 'DELETE', url: '/api/customers/5/1/preferences', allow: 'PATCH', auth: true },
      { method: 'DELETE', url: '/health', allow: 'GET, HEAD', auth: false },
      // These URLs belong to the static paths, not to `/:customerId`, which has DELETE and PATCH.
      { method: 'DELETE', url: '/api/customers/5/analytics', allow: 'GET, HEAD', auth: true },
      { method: 'PATCH', url: '/api/customers/5/repeat/', allow: 'GET, HEAD', auth: false },
      { method: 'DELETE', url: '/api/customers/5/export', allow: 'GET, HEAD', auth: true },
      { method: 'TRACE', url: '/api/customers/5/analytics', allow: 'GET, HEAD', auth: true },
      { method: 'POST', url: '/openapi.json', allow: 'GET, HEAD', auth: false },
      { method: 'PATCH', url: '/webhooks/sales', allow: 'POST', auth: false },
    ]
    for (const { method, url, allow, auth } of cases) {
      const name = `${method} ${url}`
      const response = await server.app.inject({ method, url, headers: auth ? authFor(5) : {} })
      t.equal(response.statusCode, 405, `${name}: status`)
      t.equal(response.headers.allow, allow, `${name}: Allow`)
      t.strictSame(
        response.json(),
        {
          error: 'Method not allowed',
          message: `This path answers ${allow}`,
          request_id: response.headers['x-request-id'],
        },
        `${name}: body`,
      )
    }
  },
)

t.test('a trailing slash is optional on every path', async (t) => {
  const server = await fileServer(t)
  const customerId = await createCustomerId(server.inject, 5, { name: 'Trailing Slash' })
  const base = `/api/customers/5/${customerId}`
  const reads = [
    '/health',
    '/openapi.json',
    '/api/customers/5',
    `${base}`,
    `${base}/notes`,
    `${base}/metrics`,
    `${base}/history`,
    '/api/customers/5/analytics',
    '/api/customers/5/repeat',
  ]
  const withoutId = (response: LightMyRequestResponse): unknown =>
    Object.fromEntries(Object.entries(errorBody(response)).filter(([key]) => key !== 'request_id'))
  for (const path of reads) {
    const plain = await server.inject({ method: 'GET', url: path, headers: authFor(5) })
    const slashed = await server.inject({ method: 'GET', url: `${path}/`, headers: authFor(5) })
    t.equal(plain.statusCode, 200, `GET ${path}: status`)
    t.equal(slashed.statusCode, 200, `GET ${path}/: status`)
    t.strictSame(withoutId(slashed), withoutId(plain), `GET ${path}/: same body as ${path}`)
  }
  const search = await server.inject({
    method: 'GET',
    url: '/api/customers/5/search/?q=Trailing',
    headers: authFor(5),
  })
  t.equal(search.statusCode, 200, 'GET /search/?q=: status')
  t.equal((search.json() as { count: number }).count, 1, 'GET /search/?q=: finds the customer')

  const writes: { method: 'POST' | 'PATCH'; url: string; payload: object; status: number }[] = [
    { method: 'POST', url: '/api/customers/5/', payload: { name: 'Slash Create' }, status: 201 },
    { method: 'PATCH', url: `${base}/`, payload: { customer_type: 'vip' }, status: 200 },
    { method: 'POST', url: `${base}/notes/`, payload: { content: 'slash note' }, status: 201 },
    {
      method: 'PATCH',
      url: `${base}/preferences/`,
      payload: { do_not_contact: true },
      status: 200,
    },
  ]
  for (const { method, url, payload, status } of writes) {
    const response = await server.inject({ method, url, headers: authFor(5), payload })
    t.equal(response.statusCode, status, `${method} ${url}: status`)
  }
})

t.test('a body that cannot be read is refused in the contract shape', async (t) => {
  const server = await fileServer(t)
  const countCustomers = async () =>
    (
      await server.database.db
        .selectFrom('customers')
        .select('id')
        .where('business_id', '=', 5)
        .execute()
    ).length
  await createCustomerId(server.inject, 5, { name: 'Existing' })
  const before = await countCustomers()
  const json = { 'content-type': 'application/json' }
  const cases: {
    name: string
    headers: Record<string, string>
    payload: string
    status: number
    error: string
  }[] = [
    {
      name: 'malformed JSON',
      headers: json,
      payload: '{"name":',
      status: 400,
      error: 'Validation failed',
    },
    {
      name: 'an empty JSON body',
      headers: json,
      payload: '',
      status: 400,
      error: 'Validation failed',
    },
    {
      name: 'prototype poisoning',
      headers: json,
      payload: '{"__proto__":{"admin":true},"name":"x"}',
      status: 400,
      error: 'Validation failed',
    },
    {
      name: 'constructor poisoning',
      headers: json,
      payload: '{"constructor":{"prototype":{"admin":true}},"name":"x"}',
      status: 400,
      error: 'Validation failed',
    },
    {
      name: 'a body over 64 KiB',
      headers: json,
      payload: JSON.stringify({ name: 'x', address: 'a'.repeat(70_000) }),
      status: 413,
      error: 'Payload too large',
    },
    {
      name: 'text/plain',
      headers: { 'content-type': 'text/plain' },
      payload: 'name=x',
      status: 415,
      error: 'Unsupported media type',
    },
    {
      name: 'a form',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'name=x',
      status: 415,
      error: 'Unsupported media type',
    },
  ]
  for (const { name, headers, payload, status, error } of cases) {
    const response = await server.inject({
      method: 'POST',
      url: '/api/customers/5',
      headers: { ...authFor(5), ...headers },
      payload,
    })
    t.equal(response.statusCode, status, `${name}: status`)
    const body = errorBody(response)
    t.equal(body.error, error, `${name}: error`)
    assertRequestIdInBody(t, response, name)
    if (status === 400) {
      t.strictSame(
        (body.details as { path: string }[] | undefined)?.map((detail) => detail.path),
        ['body'],
        `${name}: one detail, about the body`,
      )
    }
  }
  t.equal(await countCustomers(), before, 'nothing was stored')

  const invalid = await server.inject({
    method: 'POST',
    url: '/api/customers/5',
    headers: authFor(5),
    payload: { name: '', email: 'not-an-email', bogus: 1 },
  })
  t.equal(invalid.statusCode, 400, 'three bad fields: status')
  t.strictSame(
    ((errorBody(invalid).details ?? []) as { path: string }[]).map((detail) => detail.path).sort(),
    ['bogus', 'email', 'name'],
    'three bad fields: one detail per field, named',
  )
})

t.test('a 500 reveals nothing of the failure', async (t) => {
  const failures: { name: string; error: unknown }[] = [
    { name: 'a plain Error', error: new Error('select * from secret_table where password = $1') },
    {
      name: 'a PostgreSQL error',
      error: withCode('relation "secret_table" does not exist', '42P01', {
        detail: 'secret detail',
        hint: 'secret hint',
        routine: 'parserOpenTable',
      }),
    },
    { name: 'a TypeError', error: new TypeError("Cannot read properties of undefined ('secret')") },
    {
      name: 'an Error carrying statusCode 500',
      error: Object.assign(new Error('secret internal state'), { statusCode: 500 }),
    },
    {
      name: 'an Error carrying statusCode 502',
      error: Object.assign(new Error('secret upstream'), { statusCode: 502 }),
    },
    { name: 'a thrown string', error: 'secret string thrown' },
  ]
  for (const failure of failures) {
    // Reads fail; the business row (an insert) is still made, so the handler is what fails.
    const server = await build(t, {
      database: await failingQueries(failure.error, ['SelectQueryNode']),
    })
    for (const url of ['/api/customers/5', '/api/customers/5/1']) {
      const name = `${failure.name}, GET ${url}`
      const response = await server.inject({ method: 'GET', url, headers: authFor(5) })
      t.equal(response.statusCode, 500, `${name}: status`)
      t.strictSame(
        response.json(),
        { error: 'Internal server error', request_id: response.headers['x-request-id'] },
        `${name}: body`,
      )
      t.notMatch(response.body, /secret|select|stack|\.ts\b|42P01/i, `${name}: nothing internal`)
    }
  }
})

t.test('an unreachable database is a 503 with Retry-After', async (t) => {
  const failures: { name: string; failure: Parameters<typeof unreachableDatabase>[0] }[] = [
    {
      name: 'connection refused',
      failure: {
        connect: withCode('connect ECONNREFUSED 10.1.2.3:5432', 'ECONNREFUSED', {
          address: '10.1.2.3',
        }),
      },
    },
    {
      name: 'backend terminated (57P01)',
      failure: { query: withCode('terminating connection due to administrator command', '57P01') },
    },
    {
      name: 'too many connections (53300)',
      failure: { connect: withCode('sorry, too many clients already', '53300') },
    },
    {
      name: 'connection terminated, no code',
      failure: { query: new Error('Connection terminated unexpectedly') },
    },
    {
      name: 'a reset connection as the cause',
      failure: {
        connect: new Error('pool failed', { cause: withCode('read ECONNRESET', 'ECONNRESET') }),
      },
    },
  ]
  for (const { name: failureName, failure } of failures) {
    const server = await build(t, { database: unreachableDatabase(failure) })
    const requests = [
      { url: '/api/customers/5', headers: authFor(5) },
      { url: '/ready', headers: {} },
    ]
    for (const { url, headers } of requests) {
      const name = `${failureName}, GET ${url}`
      const response = await server.inject({ method: 'GET', url, headers })
      t.equal(response.statusCode, 503, `${name}: status`)
      t.match(response.headers['retry-after'], /^[1-9]\d*$/, `${name}: Retry-After in seconds`)
      const body = errorBody(response)
      t.equal(body.error, 'Service unavailable', `${name}: error`)
      assertRequestIdInBody(t, response, name)
      t.ok(
        Object.keys(body).every((key) => ['error', 'message', 'request_id'].includes(key)),
        `${name}: only error, message and request_id`,
      )
      t.notMatch(
        response.body,
        /10\.1\.2\.3|ECONN|terminat|sorry|pool failed/i,
        `${name}: nothing internal`,
      )
    }
    const health = await server.inject({ method: 'GET', url: '/health' })
    t.equal(health.statusCode, 200, `${failureName}, GET /health: status (the process is up)`)
  }
})

t.test('/health and /ready', async (t) => {
  const server = await fileServer(t)
  for (const url of ['/health', '/ready']) {
    const response = await server.inject({ method: 'GET', url })
    t.equal(response.statusCode, 200, `${url}: status`)
    t.strictSame(response.json(), { status: 'ok' }, `${url}: body`)
  }

  const broken = await build(t, { database: await failingQueries(new Error('boom')) })
  const failed = await broken.inject({ method: 'GET', url: '/ready' })
  t.equal(failed.statusCode, 503, 'a failing ping: /ready status')
  t.match(failed.headers['retry-after'], /^[1-9]\d*$/, 'a failing ping: Retry-After')
  t.equal(errorBody(failed).error, 'Service unavailable', 'a failing ping: error')
  const health = await broken.inject({ method: 'GET', url: '/health' })
  t.strictSame(health.json(), { status: 'ok' }, 'a failing ping: /health still ok')

  const hanging = await build(t, { database: unreachableDatabase({ hang: true }) })
  const started = Date.now()
  const slow = await hanging.inject({ method: 'GET', url: '/ready' })
  const elapsed = Date.now() - started
  t.equal(slow.statusCode, 503, 'a ping that never answers: /ready status')
  t.match(slow.headers['retry-after'], /^[1-9]\d*$/, 'a ping that never answers: Retry-After')
  t.ok(elapsed < 5000, `a ping that never answers: /ready answers in ${elapsed} ms`)
})
