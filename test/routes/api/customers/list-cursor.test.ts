import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify'
import type { KyselyPlugin } from 'kysely'
import t, { type Test } from 'tap'
import app from '../../../../app.js'
import type { CustomerList } from '../../../../generated/schemas/CustomerList.js'
import {
  createListCursorCodec,
  type ListPosition,
  type ListScope,
} from '../../../../lib/list-cursor.js'
import { serverOptions } from '../../../../server-options.js'
import { captureLogs } from '../../../support/logs.js'
import {
  authFor,
  build,
  TEST_CURSOR_SECRET,
  testConfig,
  testDatabase,
  type TestServer,
} from '../../../helper.js'

const BUSINESS = 431
const OTHER_BUSINESS = 432
const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
const PINO_ERROR = 50

type Query = Record<string, string | number | boolean>

/**
 * The app on this file's database, its queries counted by a Kysely plugin and its log lines
 * (level info and up) captured, so a refused cursor can be shown never to reach the database
 * and never to log an error.
 */
async function observedApp(t: Test): Promise<{
  fastify: FastifyInstance
  queries: () => number
  logLines: () => { level: number; msg?: string }[]
}> {
  const logs = captureLogs()
  let count = 0
  const counter: KyselyPlugin = {
    transformQuery({ node }) {
      count += 1
      return node
    },
    async transformResult({ result }) {
      return result
    },
  }
  const real = await testDatabase()
  const fastify = Fastify(serverOptions({ logLevel: 'info', stream: logs.stream }))
  await fastify.register(app, {
    config: testConfig(),
    database: { ...real, db: real.db.withPlugin(counter) },
  })
  await fastify.ready()
  t.teardown(() => fastify.close())
  return {
    fastify,
    queries: () => count,
    logLines: () =>
      logs
        .lines()
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as { level: number; msg?: string }),
  }
}

function urlOf(businessId: number, query: Query): string {
  const search = new URLSearchParams(
    Object.entries(query).map(([key, value]) => [key, String(value)]),
  )
  return `/api/customers/${businessId}?${search.toString()}`
}

/** The same user, granted both businesses: only the cursor can make a request wrong. */
const BOTH = authFor(BUSINESS, OTHER_BUSINESS)

async function create(server: TestServer, businessId: number, body: Record<string, unknown>) {
  const res = await server.inject({
    method: 'POST',
    url: `/api/customers/${businessId}`,
    headers: BOTH,
    payload: body,
  })
  if (res.statusCode !== 201) throw new Error(`create: ${res.statusCode} ${res.body}`)
  return res.json().customer.id as number
}

const server = await build(t)
const observed = await observedApp(t)
for (const businessId of [BUSINESS, OTHER_BUSINESS]) {
  for (const [index, type] of ['regular', 'vip', 'regular', 'walk_in', 'regular'].entries()) {
    await create(server, businessId, { name: `Cursor ${businessId} ${index}`, customer_type: type })
  }
}

/** A list request to the observed app: its answer and how many queries it ran. */
async function listObserved(
  businessId: number,
  query: Query,
): Promise<{ res: LightMyRequestResponse; queries: number }> {
  const before = observed.queries()
  const res = await observed.fastify.inject({
    method: 'GET',
    url: urlOf(businessId, query),
    headers: BOTH,
  })
  return { res, queries: observed.queries() - before }
}

/** A real cursor: the first page of the list, two customers long. */
async function realCursor(businessId: number, query: Query): Promise<string> {
  const { res } = await listObserved(businessId, { ...query, limit: 2 })
  const next = res.json<CustomerList>().next_after
  if (res.statusCode !== 200 || typeof next !== 'string') {
    throw new Error(`no cursor: ${res.statusCode} ${res.body}`)
  }
  return next
}

/** Counts of each way a refusal could go wrong, reported once per sweep rather than per case. */
interface Sweep {
  cases: number
  problems: string[]
}

/** Sends the case and records it unless it is a 400 on `after` that ran no query. */
async function expectRefused(
  sweep: Sweep,
  name: string,
  businessId: number,
  query: Query,
): Promise<void> {
  sweep.cases += 1
  const { res, queries } = await listObserved(businessId, query)
  const details = res.statusCode === 400 ? (res.json().details as { path: string }[]) : []
  if (res.statusCode !== 400) sweep.problems.push(`${name}: ${res.statusCode} ${res.body}`)
  else if (res.json().error !== 'Validation failed') sweep.problems.push(`${name}: ${res.body}`)
  else if (!details.some((detail) => detail.path === 'after')) {
    sweep.problems.push(`${name}: no detail on after (${res.body})`)
  }
  if (queries !== 0) sweep.problems.push(`${name}: ran ${queries} queries`)
}

function report(t: Test, sweep: Sweep, what: string): void {
  t.ok(sweep.cases > 0, `${what}: cases were sent`)
  t.strictSame(sweep.problems.slice(0, 20), [], `${what}: all ${sweep.cases} refused before SQL`)
}

// The observed app meets both businesses once (the first request per business records it).
for (const businessId of [BUSINESS, OTHER_BUSINESS]) await listObserved(businessId, {})

const SCOPE_QUERY: Query = { sort_by: 'created_at', sort_order: 'desc' }

t.test('the observer sees the queries of a real cursor, and its page follows on', async (t) => {
  const after = await realCursor(BUSINESS, SCOPE_QUERY)
  const { res, queries } = await listObserved(BUSINESS, { ...SCOPE_QUERY, limit: 2, after })
  t.equal(res.statusCode, 200, 'a real cursor is accepted')
  t.ok(queries > 0, `the page ran ${queries} queries, and the counter saw them`)
  const whole = await listObserved(BUSINESS, { ...SCOPE_QUERY, limit: 100 })
  t.same(
    res.json<CustomerList>().customers.map((customer) => customer.id),
    whole.res
      .json<CustomerList>()
      .customers.slice(2, 4)
      .map((customer) => customer.id),
    'the second page is customers 3 and 4',
  )
})

t.test('every character of a real cursor altered: 400 on after, no query', async (t) => {
  const after = await realCursor(BUSINESS, SCOPE_QUERY)
  const sweep: Sweep = { cases: 0, problems: [] }
  for (let index = 0; index < after.length; index += 1) {
    const at = BASE64URL.indexOf(after[index]!)
    for (const step of [1, 32]) {
      const altered = after.slice(0, index) + BASE64URL[(at + step) % 64] + after.slice(index + 1)
      await expectRefused(sweep, `character ${index} +${step}`, BUSINESS, {
        ...SCOPE_QUERY,
        after: altered,
      })
    }
  }
  report(t, sweep, `${after.length} characters`)
})

t.test('every byte of a real cursor altered: 400 on after, no query', async (t) => {
  const bytes = Buffer.from(await realCursor(BUSINESS, SCOPE_QUERY), 'base64url')
  const sweep: Sweep = { cases: 0, problems: [] }
  for (let index = 0; index < bytes.length; index += 1) {
    for (const mask of [0x01, 0x80]) {
      const altered = Buffer.from(bytes)
      altered[index]! ^= mask
      await expectRefused(sweep, `byte ${index} ^${mask}`, BUSINESS, {
        ...SCOPE_QUERY,
        after: altered.toString('base64url'),
      })
    }
  }
  report(t, sweep, `${bytes.length} bytes`)
})

t.test('every field of the payload changed, the signature kept: 400, no query', async (t) => {
  const bytes = Buffer.from(await realCursor(BUSINESS, SCOPE_QUERY), 'base64url')
  const header = bytes.subarray(0, 33)
  const payload = JSON.parse(bytes.subarray(33).toString('utf8')) as Record<string, unknown>
  const changes: Record<string, unknown[]> = {
    b: [OTHER_BUSINESS],
    s: ['id', 'name'],
    o: ['asc'],
    a: [false],
    t: ['regular'],
    k: ['2026-02-30 10:00:00+00', '9999-12-31 23:59:59+00'],
    i: [1, Number(payload.i) + 1],
  }
  t.strictSame(Object.keys(changes).sort(), Object.keys(payload).sort(), 'every field is changed')
  const sweep: Sweep = { cases: 0, problems: [] }
  for (const [field, values] of Object.entries(changes)) {
    for (const value of values) {
      const changed = Buffer.concat([
        header,
        Buffer.from(JSON.stringify({ ...payload, [field]: value })),
      ])
      // The same list the changed field names, so only the signature can refuse it.
      const query: Query = {
        sort_by: field === 's' ? String(value) : 'created_at',
        sort_order: field === 'o' ? String(value) : 'desc',
        ...(field === 'a' ? { is_active: false } : {}),
        ...(field === 't' ? { filter_type: String(value) } : {}),
      }
      await expectRefused(
        sweep,
        `${field}=${JSON.stringify(value)}`,
        field === 'b' ? OTHER_BUSINESS : BUSINESS,
        { ...query, after: changed.toString('base64url') },
      )
    }
  }
  report(t, sweep, 'changed fields')
})

t.test('a real cursor used with another business or list: 400, no query', async (t) => {
  const lists: Query[] = [
    { sort_by: 'created_at', sort_order: 'desc' },
    { sort_by: 'name', sort_order: 'asc', filter_type: 'regular' },
    { sort_by: 'id', sort_order: 'desc', is_active: true },
  ]
  const sweep: Sweep = { cases: 0, problems: [] }
  for (const list of lists) {
    const after = await realCursor(BUSINESS, list)
    const again = await listObserved(BUSINESS, { ...list, after })
    t.equal(again.res.statusCode, 200, `${JSON.stringify(list)}: the cursor fits its own list`)
    const misuses: [string, number, Query][] = [
      ['another business (the token grants both)', OTHER_BUSINESS, list],
      ['another sort_by', BUSINESS, { ...list, sort_by: list.sort_by === 'name' ? 'id' : 'name' }],
      [
        'another sort_order',
        BUSINESS,
        { ...list, sort_order: list.sort_order === 'asc' ? 'desc' : 'asc' },
      ],
      ['is_active=false', BUSINESS, { ...list, is_active: false }],
      [
        'another filter_type',
        BUSINESS,
        { ...list, filter_type: list.filter_type === 'regular' ? 'vip' : 'regular' },
      ],
    ]
    if (list.filter_type !== undefined) {
      const unfiltered = { ...list }
      delete unfiltered.filter_type
      misuses.push(['without its filter_type', BUSINESS, unfiltered])
    }
    for (const [name, businessId, query] of misuses) {
      await expectRefused(sweep, `${JSON.stringify(list)}, ${name}`, businessId, {
        ...query,
        after,
      })
    }
  }
  report(t, sweep, 'misused cursors')

  // The message says why, for a client that kept a cursor across a change of its query.
  const after = await realCursor(BUSINESS, SCOPE_QUERY)
  const { res } = await listObserved(OTHER_BUSINESS, { ...SCOPE_QUERY, after })
  t.match(
    res.json(),
    { error: 'Validation failed', details: [{ path: 'after', message: /another business/ }] },
    'another business: the detail says so',
  )
})

t.test('correctly signed cursors with impossible positions: 400, no query', async (t) => {
  // The server's own key, as if it had leaked: only the position checks stand before SQL.
  const codec = createListCursorCodec([TEST_CURSOR_SECRET])
  const scopeOf = (sortBy: ListScope['sortBy']): ListScope => ({
    sortBy,
    sortOrder: 'desc',
    isActive: true,
    customerType: null,
  })
  const forge = (sortBy: ListScope['sortBy'], key: unknown, id: unknown): string =>
    codec.encode(BUSINESS, scopeOf(sortBy), { key, id } as ListPosition)

  const control = forge('created_at', '2026-02-28 10:00:00.5+00', 1)
  const accepted = await listObserved(BUSINESS, { sort_by: 'created_at', after: control })
  t.equal(accepted.res.statusCode, 200, 'a forged cursor with a real date gets through (control)')

  const cases: [string, ListScope['sortBy'], unknown, unknown][] = [
    ['30 February', 'created_at', '2026-02-30 10:00:00+00', 1],
    ['month 13, day 45, 25:61:61', 'created_at', '2026-13-45 25:61:61+00', 1],
    ['offset +99', 'created_at', '2026-01-01 10:00:00+99', 1],
    ['offset +16:00', 'created_at', '2026-01-01 10:00:00+16:00', 1],
    ['year 0000', 'created_at', '0000-01-01 00:00:00+00', 1],
    ['29 February 2025', 'created_at', '2025-02-29 00:00:00+00', 1],
    ['31 April', 'created_at', '2026-04-31 00:00:00+00', 1],
    ['hour 24', 'created_at', '2026-01-01 24:00:00+00', 1],
    ['second 60', 'created_at', '2026-01-01 23:59:60+00', 1],
    ['seven fractional digits', 'created_at', '2026-01-01 10:00:00.1234567+00', 1],
    ['infinity', 'created_at', 'infinity', 1],
    ['a timestamp with id 0', 'created_at', '2026-01-01 10:00:00+00', 0],
    ['a timestamp with id 2^63', 'created_at', '2026-01-01 10:00:00+00', 2 ** 63],
    ['id key not a number', 'id', 'x', 1],
    ['id 0', 'id', '0', 0],
    ['id past 2^53', 'id', '9223372036854775807', 2 ** 63],
    ['id key and id differ', 'id', '5', 6],
    ['id as text', 'id', '5', '5'],
    ['a name with NUL', 'name', 'ann\u0000', 1],
    ['a name with ESC', 'name', 'ann\u001b[2J', 1],
    ['an empty name', 'name', '', 1],
    ['a name that is a number', 'name', 12, 1],
    ['a negative id', 'name', 'ann', -1],
  ]
  const sweep: Sweep = { cases: 0, problems: [] }
  for (const [name, sortBy, key, id] of cases) {
    await expectRefused(sweep, name, BUSINESS, { sort_by: sortBy, after: forge(sortBy, key, id) })
  }
  report(t, sweep, 'impossible positions')
})

t.test('a name cursor longer than the old 500-character limit still pages', async (t) => {
  const businessId = 433
  const headers = authFor(businessId)
  for (const name of ['Ж'.repeat(255), 'Ж'.repeat(254), 'Ж'.repeat(253)]) {
    const res = await server.inject({
      method: 'POST',
      url: `/api/customers/${businessId}`,
      headers,
      payload: { name },
    })
    t.equal(res.statusCode, 201, 'created')
  }
  const first = await server.inject({
    method: 'GET',
    url: urlOf(businessId, { sort_by: 'name', sort_order: 'desc', limit: 1 }),
    headers,
  })
  const after = first.json<CustomerList>().next_after ?? ''
  t.ok(after.length > 500, `the cursor is ${after.length} characters`)
  const second = await server.inject({
    method: 'GET',
    url: urlOf(businessId, { sort_by: 'name', sort_order: 'desc', limit: 1, after }),
    headers,
  })
  t.equal(second.statusCode, 200, 'accepted')
  t.equal(second.json<CustomerList>().customers[0]?.name, 'Ж'.repeat(254), 'the next name')
})

t.test('no refusal above wrote an error line', async (t) => {
  const lines = observed.logLines()
  t.ok(
    lines.some((line) => line.msg === 'request'),
    `the log was captured (${lines.length} lines)`,
  )
  t.strictSame(
    lines.filter((line) => line.level >= PINO_ERROR),
    [],
    'no line at error level or above',
  )
})
