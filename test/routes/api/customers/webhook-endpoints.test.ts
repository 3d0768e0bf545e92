import type { LightMyRequestResponse } from 'fastify'
import t, { type Test } from 'tap'
import { dueEndpoints } from '../../../../db/webhook-endpoints.js'
import type { ApiError } from '../../../../generated/schemas/ApiError.js'
import type { WebhookDeliveries } from '../../../../generated/schemas/WebhookDeliveries.js'
import type { WebhookEndpointCreated } from '../../../../generated/schemas/WebhookEndpointCreated.js'
import type { WebhookEndpointResponse } from '../../../../generated/schemas/WebhookEndpointResponse.js'
import type { WebhookEndpoints } from '../../../../generated/schemas/WebhookEndpoints.js'
import type { Resolver } from '../../../../lib/outbound/resolver.js'
import { requestFingerprint } from '../../../../lib/request-fingerprint.js'
import { BODY_LIMIT_BYTES } from '../../../../server-options.js'
import {
  abandonIdempotentRequest,
  beginIdempotentRequest,
} from '../../../../services/idempotency.js'
import {
  authFor,
  build,
  fileServer,
  onPostgres,
  secondConnection,
  type TestServer,
} from '../../../helper.js'
import { assertValidationFailed } from '../../../support/assertions.js'
import { createCustomerId } from '../../../support/customers.js'
import { PUBLIC_ADDRESS, refusingConnector, stubResolver } from '../../../lib/outbound/stubs.js'

type Inject = TestServer['inject']
type Created = WebhookEndpointCreated['webhook_endpoint']

const server = await fileServer(t)
const { db } = server.database

const HOOK = 'https://loyalty.example.co.ke/payme/events'
const SECRET = /^whsec_[A-Za-z0-9_-]{43}$/
const NOT_FOUND = 'Webhook endpoint not found'

const collection = (business: number) => `/api/customers/${business}/webhook-endpoints`
const one = (business: number, id: number | string) => `${collection(business)}/${id}`

function create(
  inject: Inject,
  business: number,
  payload: unknown,
  headers: Record<string, string> = {},
): Promise<LightMyRequestResponse> {
  return inject({
    method: 'POST',
    url: collection(business),
    headers: { ...authFor(business), ...headers },
    payload: payload as Record<string, unknown>,
  })
}

/** Registers an endpoint that must be accepted; returns it as the 201 shows it. */
async function created(
  t: Test,
  inject: Inject,
  business: number,
  payload: Record<string, unknown> = { url: HOOK, events: ['customer.created'] },
): Promise<Created> {
  const response = await create(inject, business, payload)
  t.equal(response.statusCode, 201, `create ${JSON.stringify(payload)}: status`)
  if (response.statusCode !== 201) throw new Error(response.body)
  return response.json<WebhookEndpointCreated>().webhook_endpoint
}

function patch(
  inject: Inject,
  business: number,
  id: number | string,
  payload: unknown,
): Promise<LightMyRequestResponse> {
  return inject({
    method: 'PATCH',
    url: one(business, id),
    headers: authFor(business),
    payload: payload as Record<string, unknown>,
  })
}

const get = (inject: Inject, business: number, url: string) =>
  inject({ method: 'GET', url, headers: authFor(business) })

async function endpointRows(business: number) {
  return db
    .selectFrom('webhook_endpoints')
    .selectAll()
    .where('business_id', '=', business)
    .orderBy('id')
    .execute()
}

async function endpointRow(business: number, id: number) {
  return db
    .selectFrom('webhook_endpoints')
    .selectAll()
    .where('business_id', '=', business)
    .where('id', '=', id)
    .executeTakeFirst()
}

/** The end of the business's feed once every committed event is numbered (GET /events does it). */
async function feedEnd(t: Test, business: number): Promise<number> {
  const response = await get(server.inject, business, `/api/customers/${business}/events`)
  t.equal(response.statusCode, 200, 'GET /events: status')
  const row = await db
    .selectFrom('customer_events')
    .select(({ fn }) => fn.max('position').as('end'))
    .where('business_id', '=', business)
    .executeTakeFirstOrThrow()
  return Number(row.end ?? 0)
}

function assertError(
  t: Test,
  response: LightMyRequestResponse,
  status: number,
  error: string,
  name: string,
): void {
  t.equal(response.statusCode, status, `${name}: status`)
  t.strictSame(
    response.json(),
    { error, request_id: response.headers['x-request-id'] },
    `${name}: body`,
  )
}

t.test(
  'create answers the endpoint and its secret; no other answer shows the secret',
  async (t) => {
    const business = 7101
    const first = await create(server.inject, business, {
      url: HOOK,
      events: ['purchase_history.updated', 'customer.created'],
    })
    t.equal(first.statusCode, 201, 'status')
    const body = first.json<WebhookEndpointCreated>()
    t.strictSame(Object.keys(body), ['webhook_endpoint'], 'one key: webhook_endpoint')
    const endpoint = body.webhook_endpoint
    t.strictSame(
      Object.keys(endpoint).sort(),
      ['created_at', 'enabled', 'events', 'id', 'secret', 'url'],
      'exactly id, url, events, enabled, created_at, secret',
    )
    t.equal(endpoint.url, HOOK, 'url as given')
    t.strictSame(
      endpoint.events,
      ['purchase_history.updated', 'customer.created'],
      'events as given, in order',
    )
    t.equal(endpoint.enabled, true, 'enabled')
    t.match(endpoint.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/, 'created_at in UTC')
    t.ok(Math.abs(Date.parse(endpoint.created_at) - Date.now()) < 60_000, 'created_at is now')
    t.match(endpoint.secret, SECRET, 'secret: whsec_ and 43 base64url characters')

    const second = await created(t, server.inject, business)
    t.not(second.id, endpoint.id, 'another id')
    t.not(second.secret, endpoint.secret, 'another secret')

    const rows = await endpointRows(business)
    t.equal(rows.length, 2, 'two rows')
    t.equal(rows[0]?.secret, endpoint.secret, "the first row's secret is the one shown")
    t.equal(rows[1]?.secret, second.secret, "the second row's secret is the one shown")

    const { secret, ...shown } = endpoint
    const answers: [string, LightMyRequestResponse][] = [
      ['GET', await get(server.inject, business, one(business, endpoint.id))],
      ['list', await get(server.inject, business, collection(business))],
      ['PATCH', await patch(server.inject, business, endpoint.id, { enabled: true })],
      [
        'deliveries',
        await get(server.inject, business, `${one(business, endpoint.id)}/deliveries`),
      ],
    ]
    for (const [name, response] of answers) {
      t.equal(response.statusCode, 200, `${name}: status`)
      t.notOk(response.body.includes(secret), `${name}: the secret is not in the body`)
      t.notOk(response.body.includes(second.secret), `${name}: nor the other secret`)
      t.notOk(response.body.includes('whsec_'), `${name}: no secret at all`)
    }
    t.strictSame(
      answers[0]?.[1].json<WebhookEndpointResponse>(),
      { webhook_endpoint: shown },
      'GET: the endpoint as created, without its secret',
    )
    t.strictSame(
      answers[2]?.[1].json<WebhookEndpointResponse>(),
      { webhook_endpoint: shown },
      'PATCH: the endpoint, without its secret',
    )
    const { secret: _secret, ...secondShown } = second
    t.strictSame(
      answers[1]?.[1].json<WebhookEndpoints>(),
      { webhook_endpoints: [shown, secondShown] },
      'list: both, oldest first, without secrets',
    )
    t.strictSame(
      answers[3]?.[1].json<WebhookDeliveries>(),
      { deliveries: [] },
      'deliveries: none yet',
    )
  },
)

t.test('create refuses invalid bodies with 400 naming the field, storing nothing', async (t) => {
  const business = 7102
  const events = ['customer.created']
  const cases: { name: string; payload: unknown; path: string }[] = [
    { name: 'url missing', payload: { events }, path: 'url' },
    { name: 'url empty', payload: { url: '', events }, path: 'url' },
    { name: 'url blank', payload: { url: '   ', events }, path: 'url' },
    { name: 'url not a string', payload: { url: 42, events }, path: 'url' },
    {
      name: 'url longer than 2048',
      payload: { url: `https://x.example/${'a'.repeat(2049 - 18)}`, events },
      path: 'url',
    },
    { name: 'url not a URL', payload: { url: 'not a url', events }, path: 'url' },
    { name: 'url relative', payload: { url: '/hook', events }, path: 'url' },
    { name: 'url ftp', payload: { url: 'ftp://x.example/hook', events }, path: 'url' },
    { name: 'url javascript', payload: { url: 'javascript:alert(1)', events }, path: 'url' },
    {
      name: 'url with credentials',
      payload: { url: 'https://user:pw@x.example/', events },
      path: 'url',
    },
    {
      name: 'url with user name',
      payload: { url: 'https://token@x.example/', events },
      path: 'url',
    },
    { name: 'events missing', payload: { url: HOOK }, path: 'events' },
    { name: 'events empty', payload: { url: HOOK, events: [] }, path: 'events' },
    {
      name: 'events not an array',
      payload: { url: HOOK, events: 'customer.created' },
      path: 'events',
    },
    {
      name: 'events unknown type',
      payload: { url: HOOK, events: ['customer.created', 'customer.exploded'] },
      path: 'events.1',
    },
    {
      name: 'events duplicate type',
      payload: { url: HOOK, events: ['customer.created', 'customer.created'] },
      path: 'events',
    },
    {
      name: 'extra property secret',
      payload: { url: HOOK, events, secret: 'whsec_mine' },
      path: 'secret',
    },
    {
      name: 'extra property enabled',
      payload: { url: HOOK, events, enabled: false },
      path: 'enabled',
    },
  ]
  for (const { name, payload, path } of cases) {
    const response = await create(server.inject, business, payload)
    assertValidationFailed(t, response, path, name)
  }
  const longest = `https://x.example/${'a'.repeat(2048 - 18)}`
  t.equal(longest.length, 2048, 'the longest URL accepted is 2048 characters')
  const accepted = await created(t, server.inject, business, { url: longest, events })
  t.equal(accepted.url, longest, 'a 2048-character URL is kept whole')
  t.equal((await endpointRows(business)).length, 1, 'only the valid endpoint was stored')
})

t.test('PATCH and the delivery log refuse invalid requests with 400', async (t) => {
  const business = 7103
  const endpoint = await created(t, server.inject, business)
  const before = await endpointRow(business, endpoint.id)
  const cases: { name: string; payload: unknown; path: string }[] = [
    { name: 'empty object', payload: {}, path: 'body' },
    { name: 'unknown field', payload: { secret: 'whsec_mine' }, path: 'secret' },
    { name: 'unknown field beside a valid one', payload: { enabled: false, x: 1 }, path: 'x' },
    { name: 'url empty', payload: { url: '' }, path: 'url' },
    { name: 'url ftp', payload: { url: 'ftp://x.example/' }, path: 'url' },
    { name: 'url with credentials', payload: { url: 'https://user:pw@x.example/' }, path: 'url' },
    { name: 'events empty', payload: { events: [] }, path: 'events' },
    { name: 'events unknown type', payload: { events: ['sale.completed'] }, path: 'events.0' },
    {
      name: 'events duplicate type',
      payload: { events: ['consent.changed', 'consent.changed'] },
      path: 'events',
    },
    { name: 'enabled not a boolean', payload: { enabled: 'yes' }, path: 'enabled' },
    { name: 'enabled null', payload: { enabled: null }, path: 'enabled' },
  ]
  for (const { name, payload, path } of cases) {
    const response = await patch(server.inject, business, endpoint.id, payload)
    assertValidationFailed(t, response, path, `PATCH ${name}`)
  }
  t.strictSame(await endpointRow(business, endpoint.id), before, 'the row did not change')

  for (const limit of ['0', '1001', '-1', 'ten']) {
    const response = await get(
      server.inject,
      business,
      `${one(business, endpoint.id)}/deliveries?limit=${limit}`,
    )
    assertValidationFailed(t, response, 'limit', `deliveries limit=${limit}`)
  }
  for (const limit of ['1', '1000']) {
    const response = await get(
      server.inject,
      business,
      `${one(business, endpoint.id)}/deliveries?limit=${limit}`,
    )
    t.equal(response.statusCode, 200, `deliveries limit=${limit}: status`)
  }
  for (const badId of ['abc', '0', '-1', '1.5']) {
    const response = await get(server.inject, business, one(business, badId))
    assertValidationFailed(t, response, 'endpointId', `GET endpointId ${badId}`)
  }
})

/** A resolver that fails the test when asked: registration outside production never resolves. */
function unusedResolver(t: Test): Resolver {
  return async (hostname) => {
    t.fail(`resolver asked for ${hostname}`)
    throw new Error('unused resolver called')
  }
}

t.test('production: only https URLs to public addresses are registered', async (t) => {
  const resolver = stubResolver({
    'internal.example': [['10.1.2.3']],
    'public.example': [[PUBLIC_ADDRESS]],
    'other-public.example': [[PUBLIC_ADDRESS]],
    'mixed.example': [[PUBLIC_ADDRESS, '192.168.1.1']],
  })
  const production = await build(t, {
    config: { env: 'production' },
    outbound: { resolve: resolver, connect: refusingConnector(t) },
  })
  const business = 7104
  const events = ['customer.created']
  const refused = [
    'http://public.example/hook',
    'https://127.0.0.1/hook',
    'https://10.0.0.1/hook',
    'https://[::1]/hook',
    'https://169.254.169.254/latest/meta-data',
    'https://localhost/hook',
    'https://localhost:8443/hook',
    'https://internal.example/hook',
    'https://mixed.example/hook',
    'https://nowhere.example/hook',
  ]
  for (const url of refused) {
    const response = await create(production.inject, business, { url, events })
    const body = assertValidationFailed(t, response, 'url', `POST ${url}`)
    t.notOk(JSON.stringify(body).includes('10.1.2.3'), `POST ${url}: no resolved address echoed`)
  }
  t.strictSame(await endpointRows(business), [], 'nothing stored')

  const accepted = await created(t, production.inject, business, {
    url: 'https://public.example/hook',
    events,
  })
  t.equal(accepted.url, 'https://public.example/hook', 'a name resolving to a public address')
  const literal = await created(t, production.inject, business, {
    url: `https://${PUBLIC_ADDRESS}/hook`,
    events,
  })
  t.equal(literal.url, `https://${PUBLIC_ADDRESS}/hook`, 'a public address literal')

  for (const url of refused) {
    const response = await patch(production.inject, business, accepted.id, { url })
    assertValidationFailed(t, response, 'url', `PATCH ${url}`)
  }
  const row = await endpointRow(business, accepted.id)
  t.equal(row?.url, 'https://public.example/hook', 'the refused PATCHes changed nothing')

  const moved = await patch(production.inject, business, accepted.id, {
    url: 'https://other-public.example/hook',
  })
  t.equal(moved.statusCode, 200, 'PATCH to another public name: status')
  t.equal(
    moved.json<WebhookEndpointResponse>().webhook_endpoint.url,
    'https://other-public.example/hook',
    'PATCH to another public name: shown',
  )
  t.ok(resolver.calls.includes('internal.example'), 'the injected resolver was asked')
  t.ok(resolver.calls.includes('other-public.example'), 'PATCH resolved the new name')
  t.notOk(resolver.calls.includes('localhost'), 'localhost is refused without a lookup')
})

t.test('outside production, http and private addresses are accepted, unresolved', async (t) => {
  const business = 7105
  for (const env of ['development', 'test'] as const) {
    const app = await build(t, {
      config: { env },
      outbound: { resolve: unusedResolver(t), connect: refusingConnector(t) },
    })
    for (const url of [
      'http://127.0.0.1:8080/hook',
      'http://localhost:3000/hook',
      'https://10.0.0.1/hook',
      'http://unresolvable.invalid/hook',
    ]) {
      const endpoint = await created(t, app.inject, business, { url, events: ['customer.created'] })
      t.equal(endpoint.url, url, `${env}: ${url} registered`)
      const changed = await patch(app.inject, business, endpoint.id, {
        url: 'http://127.0.0.1:9/x',
      })
      t.equal(changed.statusCode, 200, `${env}: PATCH to http://127.0.0.1:9/x: status`)
    }
    const ftp = await create(app.inject, business, {
      url: 'ftp://127.0.0.1/hook',
      events: ['customer.created'],
    })
    assertValidationFailed(t, ftp, 'url', `${env}: ftp is still refused`)
  }
})

t.test('PATCH changes url, events and enabled, and shows the result', async (t) => {
  const business = 7106
  const endpoint = await created(t, server.inject, business)
  const steps: { payload: Record<string, unknown>; expect: Record<string, unknown> }[] = [
    { payload: { url: 'https://new.example/hook' }, expect: { url: 'https://new.example/hook' } },
    {
      payload: { events: ['customer.erased', 'consent.changed'] },
      expect: { events: ['customer.erased', 'consent.changed'] },
    },
    { payload: { enabled: false }, expect: { enabled: false } },
    {
      payload: { url: 'https://third.example/', events: ['customer.merged'], enabled: true },
      expect: { url: 'https://third.example/', events: ['customer.merged'], enabled: true },
    },
  ]
  const { secret, ...current } = endpoint
  for (const { payload, expect } of steps) {
    const name = `PATCH ${JSON.stringify(payload)}`
    const response = await patch(server.inject, business, endpoint.id, payload)
    t.equal(response.statusCode, 200, `${name}: status`)
    Object.assign(current, expect)
    t.strictSame(
      response.json<WebhookEndpointResponse>(),
      { webhook_endpoint: current },
      `${name}: the endpoint as changed`,
    )
    const read = await get(server.inject, business, one(business, endpoint.id))
    t.strictSame(read.json(), { webhook_endpoint: current }, `${name}: GET shows the same`)
    const row = await endpointRow(business, endpoint.id)
    t.strictSame(
      { url: row?.url, events: row?.events, enabled: row?.enabled },
      { url: current.url, events: current.events, enabled: current.enabled },
      `${name}: the row`,
    )
    t.equal(row?.secret, secret, `${name}: the secret is kept`)
  }
})

t.test('a new endpoint starts at the end of the feed', async (t) => {
  const business = 7107
  await createCustomerId(server.inject, business, { name: 'Before One' })
  await createCustomerId(server.inject, business, { name: 'Before Two' })
  // No GET /events since: the two events are not numbered yet when the endpoint is created.
  const endpoint = await created(t, server.inject, business)
  const row = await endpointRow(business, endpoint.id)
  const end = await feedEnd(t, business)
  t.ok(end > 0, 'the feed has events')
  t.equal(row?.delivered_position, end, 'delivered_position is the end of the feed')
  const behind = await dueEndpoints(db)
  t.notOk(
    behind.some((entry) => Number(entry.business_id) === business),
    'the endpoint is not behind',
  )

  await createCustomerId(server.inject, business, { name: 'After' })
  const later = await feedEnd(t, business)
  t.ok(later > end, 'a later event is past the endpoint')
  t.ok(
    (await dueEndpoints(db)).some(
      (entry) => Number(entry.business_id) === business && entry.id === endpoint.id,
    ),
    'and the endpoint is behind it',
  )
})

t.test('re-enabling starts at the end of the feed; what was missed is skipped', async (t) => {
  const business = 7108
  const endpoint = await created(t, server.inject, business)
  const start = (await endpointRow(business, endpoint.id))?.delivered_position
  const disabled = await patch(server.inject, business, endpoint.id, { enabled: false })
  t.equal(disabled.statusCode, 200, 'disable: status')
  await createCustomerId(server.inject, business, { name: 'While Disabled' })
  const missed = await feedEnd(t, business)
  t.ok(start !== undefined && missed > start, 'an event arrived while disabled')
  t.equal(
    (await endpointRow(business, endpoint.id))?.delivered_position,
    start,
    'disabled: the position stays',
  )

  // Enabling an endpoint that is already enabled does not move it.
  const other = await created(t, server.inject, business)
  await createCustomerId(server.inject, business, { name: 'Behind Other' })
  const otherStart = (await endpointRow(business, other.id))?.delivered_position
  const again = await patch(server.inject, business, other.id, { enabled: true })
  t.equal(again.statusCode, 200, 'enable an enabled endpoint: status')
  t.equal(
    (await endpointRow(business, other.id))?.delivered_position,
    otherStart,
    'enable an enabled endpoint: the position stays',
  )

  const enabled = await patch(server.inject, business, endpoint.id, { enabled: true })
  t.equal(enabled.statusCode, 200, 'enable: status')
  t.equal(enabled.json<WebhookEndpointResponse>().webhook_endpoint.enabled, true, 'enable: shown')
  const end = await feedEnd(t, business)
  t.equal(
    (await endpointRow(business, endpoint.id))?.delivered_position,
    end,
    'enable: the position jumps to the end of the feed',
  )
})

t.test('DELETE removes the endpoint and its delivery log', async (t) => {
  const business = 7109
  const endpoint = await created(t, server.inject, business)
  const kept = await created(t, server.inject, business)
  const customer = await createCustomerId(server.inject, business, { name: 'Logged' })
  const event = await db
    .selectFrom('customer_events')
    .select('id')
    .where('business_id', '=', business)
    .where('customer_id', '=', customer)
    .executeTakeFirstOrThrow()
  const attempts = [
    { attempt: 1, status_code: null, error: 'connection refused', duration_ms: 12 },
    { attempt: 2, status_code: 200, error: null, duration_ms: 34 },
  ]
  for (const target of [endpoint.id, kept.id]) {
    await db
      .insertInto('webhook_deliveries')
      .values(
        attempts.map((attempt) => ({
          business_id: business,
          endpoint_id: target,
          event_id: event.id,
          ...attempt,
        })),
      )
      .execute()
  }
  const log = await get(server.inject, business, `${one(business, endpoint.id)}/deliveries`)
  t.equal(log.statusCode, 200, 'deliveries: status')
  const { deliveries } = log.json<WebhookDeliveries>()
  t.strictSame(
    deliveries.map(({ at: _at, ...rest }) => rest),
    [...attempts].reverse().map((attempt) => ({ event_id: event.id, ...attempt })),
    'deliveries: the attempts, newest first',
  )
  const limited = await get(
    server.inject,
    business,
    `${one(business, endpoint.id)}/deliveries?limit=1`,
  )
  t.equal(limited.json<WebhookDeliveries>().deliveries.length, 1, 'deliveries?limit=1: one')

  const removed = await server.inject({
    method: 'DELETE',
    url: one(business, endpoint.id),
    headers: authFor(business),
  })
  t.equal(removed.statusCode, 200, 'DELETE: status')
  t.strictSame(removed.json(), { message: 'Webhook endpoint deleted' }, 'DELETE: body')
  t.equal(await endpointRow(business, endpoint.id), undefined, 'the row is gone')
  const logRows = await db
    .selectFrom('webhook_deliveries')
    .select('endpoint_id')
    .where('business_id', '=', business)
    .execute()
  t.strictSame(
    logRows.map((row) => row.endpoint_id),
    [kept.id, kept.id],
    "its log is gone; the other endpoint's stays",
  )

  assertError(
    t,
    await get(server.inject, business, one(business, endpoint.id)),
    404,
    NOT_FOUND,
    'GET after DELETE',
  )
  assertError(
    t,
    await server.inject({
      method: 'DELETE',
      url: one(business, endpoint.id),
      headers: authFor(business),
    }),
    404,
    NOT_FOUND,
    'second DELETE',
  )
  assertError(
    t,
    await patch(server.inject, business, endpoint.id, { enabled: false }),
    404,
    NOT_FOUND,
    'PATCH after DELETE',
  )
  assertError(
    t,
    await get(server.inject, business, `${one(business, endpoint.id)}/deliveries`),
    404,
    NOT_FOUND,
    'deliveries after DELETE',
  )
  const list = await get(server.inject, business, collection(business))
  t.strictSame(
    list.json<WebhookEndpoints>().webhook_endpoints.map((shown) => shown.id),
    [kept.id],
    'the list has only the other endpoint',
  )
})

t.test('an endpoint id that does not exist is a 404 for every operation on one', async (t) => {
  const business = 7110
  const missing = 999_999_999
  const requests: [string, () => Promise<LightMyRequestResponse>][] = [
    ['GET', () => get(server.inject, business, one(business, missing))],
    ['PATCH', () => patch(server.inject, business, missing, { enabled: true })],
    [
      'DELETE',
      () =>
        server.inject({
          method: 'DELETE',
          url: one(business, missing),
          headers: authFor(business),
        }),
    ],
    ['deliveries', () => get(server.inject, business, `${one(business, missing)}/deliveries`)],
  ]
  for (const [name, request] of requests) assertError(t, await request(), 404, NOT_FOUND, name)
  t.strictSame(await endpointRows(business), [], 'nothing stored')
})

t.test('Idempotency-Key on create: a retry gets the same answer, another body a 422', async (t) => {
  const business = 7111
  const payload = { url: HOOK, events: ['customer.created'] }
  const key = { 'idempotency-key': 'endpoint-create-1' }
  const first = await create(server.inject, business, payload, key)
  t.equal(first.statusCode, 201, 'first: status')
  const retry = await create(server.inject, business, payload, key)
  t.equal(retry.statusCode, 201, 'retry: status')
  t.equal(first.headers['idempotent-replayed'], undefined, 'first: not a replay')
  t.equal(retry.headers['idempotent-replayed'], 'true', 'retry: Idempotent-Replayed: true')
  t.strictSame(retry.json(), first.json(), 'retry: the same endpoint, the same secret')
  const rows = await endpointRows(business)
  t.equal(rows.length, 1, 'one row')
  t.equal(
    rows[0]?.secret,
    first.json<WebhookEndpointCreated>().webhook_endpoint.secret,
    "the row's secret is the one shown",
  )

  const other = await create(
    server.inject,
    business,
    { ...payload, events: ['customer.updated'] },
    key,
  )
  t.equal(other.statusCode, 422, 'same key, other body: status')
  t.match(
    other.json<ApiError>(),
    { error: 'Idempotency key reused' },
    'same key, other body: error',
  )
  t.equal((await endpointRows(business)).length, 1, 'still one row')

  const fresh = await create(server.inject, business, payload, {
    'idempotency-key': 'endpoint-create-2',
  })
  t.equal(fresh.statusCode, 201, 'a new key: status')
  t.not(
    fresh.json<WebhookEndpointCreated>().webhook_endpoint.secret,
    first.json<WebhookEndpointCreated>().webhook_endpoint.secret,
    'a new key: a new endpoint with its own secret',
  )
})

t.test("another business's endpoints are neither reachable nor listed", async (t) => {
  const a = 7112
  const b = 7113
  const endpoint = await created(t, server.inject, a)
  const before = await endpointRow(a, endpoint.id)

  const forbidden: [string, Parameters<Inject>[0]][] = [
    [
      'create',
      { method: 'POST', url: collection(a), payload: { url: HOOK, events: ['customer.created'] } },
    ],
    ['list', { method: 'GET', url: collection(a) }],
    ['GET', { method: 'GET', url: one(a, endpoint.id) }],
    ['PATCH', { method: 'PATCH', url: one(a, endpoint.id), payload: { enabled: false } }],
    ['DELETE', { method: 'DELETE', url: one(a, endpoint.id) }],
    ['deliveries', { method: 'GET', url: `${one(a, endpoint.id)}/deliveries` }],
  ]
  for (const [name, request] of forbidden) {
    const response = await server.inject({ ...request, headers: authFor(b) })
    assertError(t, response, 403, 'Access denied', `${name} with a token for business ${b}`)
  }

  const both = authFor(a, b)
  const crossed: [string, Parameters<Inject>[0]][] = [
    ['GET', { method: 'GET', url: one(b, endpoint.id) }],
    ['PATCH', { method: 'PATCH', url: one(b, endpoint.id), payload: { enabled: false } }],
    [
      'PATCH url',
      { method: 'PATCH', url: one(b, endpoint.id), payload: { url: 'https://attacker.example/' } },
    ],
    ['DELETE', { method: 'DELETE', url: one(b, endpoint.id) }],
    ['deliveries', { method: 'GET', url: `${one(b, endpoint.id)}/deliveries` }],
  ]
  for (const [name, request] of crossed) {
    const response = await server.inject({ ...request, headers: both })
    assertError(t, response, 404, NOT_FOUND, `${name} of ${a}'s endpoint under ${b}`)
  }
  t.strictSame(await endpointRow(a, endpoint.id), before, `${a}'s endpoint unchanged`)
  t.strictSame(await endpointRows(b), [], `nothing stored under ${b}`)

  const ownOfB = await created(t, server.inject, b)
  const listB = await server.inject({ method: 'GET', url: collection(b), headers: both })
  t.strictSame(
    listB.json<WebhookEndpoints>().webhook_endpoints.map((shown) => shown.id),
    [ownOfB.id],
    `${b}'s list has only its own endpoint`,
  )
  const listA = await server.inject({ method: 'GET', url: collection(a), headers: both })
  t.strictSame(
    listA.json<WebhookEndpoints>().webhook_endpoints.map((shown) => shown.id),
    [endpoint.id],
    `${a}'s list has only its own endpoint`,
  )
})

t.test('a body too large, or not JSON, is refused as documented and stores nothing', async (t) => {
  const business = 7114
  const endpoint = await created(t, server.inject, business)
  const before = await endpointRows(business)
  const huge = {
    url: `https://x.example/${'a'.repeat(BODY_LIMIT_BYTES)}`,
    events: ['customer.created'],
  }
  const requests: [string, Parameters<Inject>[0]][] = [
    ['POST', { method: 'POST', url: collection(business) }],
    ['PATCH', { method: 'PATCH', url: one(business, endpoint.id) }],
  ]
  for (const [name, request] of requests) {
    const tooLarge = await server.inject({
      ...request,
      headers: authFor(business),
      payload: huge,
    })
    t.equal(tooLarge.statusCode, 413, `${name} past the body limit: status`)
    const plain = await server.inject({
      ...request,
      headers: { ...authFor(business), 'content-type': 'text/plain' },
      payload: `url=${HOOK}`,
    })
    t.equal(plain.statusCode, 415, `${name} as text/plain: status`)
  }
  t.strictSame(await endpointRows(business), before, 'nothing stored or changed')
})

// PGlite runs one transaction at a time: only PostgreSQL can hold a key on a second connection.
if (onPostgres()) {
  t.test('a key held by a running request: 409 Request in progress, nothing stored', async (t) => {
    const business = 7115
    const other = await secondConnection(2)
    t.teardown(() => other.db.destroy())
    const endpoint = await created(t, server.inject, business)
    const before = await endpointRows(business)
    const writes: [string, 'POST' | 'PATCH' | 'DELETE', string, Record<string, unknown>?][] = [
      ['POST', 'POST', collection(business), { url: HOOK, events: ['customer.created'] }],
      ['PATCH', 'PATCH', one(business, endpoint.id), { enabled: false }],
      ['DELETE', 'DELETE', one(business, endpoint.id)],
    ]
    for (const [name, method, url, payload] of writes) {
      const key = `held-${name}`
      const held = await beginIdempotentRequest(
        other.db,
        { businessId: business, userSub: 1, key },
        requestFingerprint(method, url, payload),
      )
      if (held.outcome !== 'run') throw new Error(`the key was not claimed: ${held.outcome}`)
      const busy = await server.inject({
        method,
        url,
        headers: { ...authFor(business), 'idempotency-key': key },
        ...(payload ? { payload } : {}),
      })
      t.equal(busy.statusCode, 409, `${name}: in progress`)
      t.equal(busy.headers['retry-after'], '1', `${name}: Retry-After: 1`)
      t.match(busy.json(), { error: 'Request in progress' }, `${name}: body`)
      await abandonIdempotentRequest(held.transaction)
    }
    t.strictSame(await endpointRows(business), before, 'nothing stored or changed')
  })
}
