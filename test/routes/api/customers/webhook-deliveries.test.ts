import { setTimeout as sleep } from 'node:timers/promises'
import t, { type Test } from 'tap'
import { EVENT_TYPES } from '../../../../db/database.js'
import type { Event } from '../../../../generated/schemas/Event.js'
import type { EventsPage } from '../../../../generated/schemas/EventsPage.js'
import type { WebhookDeliveries } from '../../../../generated/schemas/WebhookDeliveries.js'
import { verifySignature } from '../../../../lib/webhook-signature.js'
import { authFor, build, type TestServer } from '../../../helper.js'
import { startServer, type Received } from '../../../lib/outbound/servers.js'
import { loopbackOnly } from '../../../lib/outbound/stubs.js'

const RETRY_BASE_MS = 200

/** The service with its workers (the delivery loop among them) and a fast first retry. */
async function service(t: Test): Promise<TestServer> {
  return build(t, {
    config: { workers: true, webhookRetryBaseMs: RETRY_BASE_MS },
    outbound: { connect: loopbackOnly(t) },
  })
}

/** A receiver on 127.0.0.1 answering each request with the next status of `statuses` (then 200). */
async function receiver(t: Test, statuses: number[] = []) {
  const answers = [...statuses]
  const server = await startServer(t, (_request, response) => {
    response.statusCode = answers.shift() ?? 200
    response.end('ok')
  })
  return { url: `http://127.0.0.1:${server.port}/hook`, received: server.received }
}

async function until(check: () => boolean | Promise<boolean>, seconds = 30): Promise<boolean> {
  const deadline = Date.now() + seconds * 1000
  while (Date.now() < deadline) {
    if (await check()) return true
    await sleep(50)
  }
  return false
}

function api(server: TestServer, business: number) {
  const headers = authFor(business)
  const base = `/api/customers/${business}`
  return {
    async post(url: string, payload: object) {
      const response = await server.inject({
        method: 'POST',
        url: `${base}${url}`,
        headers,
        payload,
      })
      if (response.statusCode >= 300) throw new Error(`POST ${url}: ${response.body}`)
      return response.json<Record<string, { id: number; secret?: string }>>()
    },
    async patch(url: string, payload: object) {
      const response = await server.inject({
        method: 'PATCH',
        url: `${base}${url}`,
        headers,
        payload,
      })
      if (response.statusCode >= 300) throw new Error(`PATCH ${url}: ${response.body}`)
      return response
    },
    async del(url: string) {
      const response = await server.inject({ method: 'DELETE', url: `${base}${url}`, headers })
      if (response.statusCode >= 300) throw new Error(`DELETE ${url}: ${response.body}`)
    },
    async events(): Promise<Event[]> {
      const response = await server.inject({
        method: 'GET',
        url: `${base}/events?limit=1000`,
        headers,
      })
      return response.json<EventsPage>().events
    },
    async deliveries(endpoint: number) {
      const response = await server.inject({
        method: 'GET',
        url: `${base}/webhook-endpoints/${endpoint}/deliveries`,
        headers,
      })
      return response.json<WebhookDeliveries>().deliveries
    },
  }
}

async function register(client: ReturnType<typeof api>, url: string, events?: Event['type'][]) {
  const { webhook_endpoint: endpoint } = await client.post('/webhook-endpoints', {
    url,
    events: events ?? EVENT_TYPES,
  })
  if (!endpoint?.secret) throw new Error('no secret')
  return { id: endpoint.id, secret: endpoint.secret }
}

const bodies = (received: Received[]) =>
  received.map((request) => JSON.parse(request.body) as Event)

t.test(
  'each event once, signed with the secret, in feed order, as the feed shows it',
  async (t) => {
    const server = await service(t)
    const client = api(server, 4101)
    await client.post('', { name: 'Before the endpoint' })
    const hook = await receiver(t)
    const endpoint = await register(client, hook.url)
    const { customer } = await client.post('', { name: 'Amina Wafula', phone: '0712 000 401' })
    const id = customer?.id ?? 0
    for (const type of ['vip', 'regular', 'wholesale'] as const) {
      await client.patch(`/${id}`, { customer_type: type })
    }
    await client.del(`/${id}`)
    t.ok(await until(() => hook.received.length >= 5), 'five deliveries arrive')
    await sleep(300)
    const feed = (await client.events()).slice(1)
    t.same(bodies(hook.received), feed, 'the bodies are the feed after the endpoint, in order')
    t.same(
      feed.map((event) => event.type),
      [
        'customer.created',
        'customer.updated',
        'customer.updated',
        'customer.updated',
        'customer.deleted',
      ],
      'the events of the writes',
    )
    for (const request of hook.received) {
      t.ok(
        verifySignature(request.headers['payme-signature'] as string, request.body, [
          endpoint.secret,
        ]),
        'the signature verifies with the secret',
      )
      t.equal(
        request.headers['payme-event-id'],
        String((JSON.parse(request.body) as Event).id),
        'PayMe-Event-Id is the event id',
      )
      t.equal(request.headers['content-type'], 'application/json', 'JSON')
    }
    t.notOk(
      verifySignature(
        hook.received[0]?.headers['payme-signature'] as string,
        hook.received[0]?.body ?? '',
        ['whsec_other'],
      ),
      'another secret does not verify',
    )
    const connections = new Set(hook.received.map((request) => request.remotePort))
    t.ok(
      connections.size < hook.received.length,
      `connections are kept between deliveries (${connections.size} for ${hook.received.length})`,
    )
    const log = await client.deliveries(endpoint.id)
    t.same(
      log.map((entry) => [entry.event_id, entry.attempt, entry.status_code, entry.error]).reverse(),
      feed.map((event) => [event.id, 1, 200, null]),
      'the log: one successful attempt each, newest first',
    )
  },
)

t.test('a receiver answering 500 three times gets the event at the fourth attempt', async (t) => {
  const server = await service(t)
  const client = api(server, 4102)
  const hook = await receiver(t, [500, 500, 500])
  const endpoint = await register(client, hook.url)
  const seen = hook.received
  await client.post('', { name: 'Retry Me' })
  await client.post('', { name: 'After Me' })
  t.ok(await until(() => seen.length >= 5), 'four attempts at the first event, then the second')
  // Each attempt is logged once its answer is in.
  await until(async () => (await client.deliveries(endpoint.id)).length >= 5)
  const ids = bodies(seen).map((event) => event.id)
  const [first, second] = await client.events()
  t.same(
    ids,
    [first?.id, first?.id, first?.id, first?.id, second?.id],
    'the same event until it is taken, then the next',
  )
  const log = (await client.deliveries(endpoint.id)).reverse()
  t.same(
    log.map((entry) => [entry.event_id, entry.attempt, entry.status_code]),
    [
      [first?.id, 1, 500],
      [first?.id, 2, 500],
      [first?.id, 3, 500],
      [first?.id, 4, 200],
      [second?.id, 1, 200],
    ],
    'the log numbers the attempts',
  )
  const at = log.map((entry) => Date.parse(entry.at))
  for (let attempt = 1; attempt <= 3; attempt += 1) {
    const gap = (at[attempt] ?? 0) - (at[attempt - 1] ?? 0)
    const least = RETRY_BASE_MS * 2 ** (attempt - 1)
    t.ok(gap >= least - 20, `retry ${attempt} came after ${gap} ms (back-off: at least ${least})`)
  }
})

t.test(
  'a disabled endpoint gets nothing; enabled again, it does not get what it missed',
  async (t) => {
    const server = await service(t)
    const client = api(server, 4103)
    const hook = await receiver(t)
    const endpoint = await register(client, hook.url, ['customer.created'])
    await client.post('', { name: 'First' })
    t.ok(await until(() => hook.received.length === 1), 'delivered while enabled')
    await client.patch(`/webhook-endpoints/${endpoint.id}`, { enabled: false })
    await client.post('', { name: 'Missed' })
    await sleep(1500)
    t.equal(hook.received.length, 1, 'nothing while disabled')
    await client.patch(`/webhook-endpoints/${endpoint.id}`, { enabled: true })
    await client.post('', { name: 'Third' })
    t.ok(await until(() => hook.received.length === 2), 'delivered once enabled again')
    await sleep(500)
    t.same(
      bodies(hook.received).map((event) => event.data.name),
      ['First', 'Third'],
      'the one it missed is not replayed',
    )
  },
)

t.test('an endpoint receives only the types it takes', async (t) => {
  const server = await service(t)
  const client = api(server, 4104)
  const hook = await receiver(t)
  await register(client, hook.url, ['customer.deleted'])
  const { customer } = await client.post('', { name: 'Short Stay' })
  await client.patch(`/${customer?.id ?? 0}`, { customer_type: 'vip' })
  await client.del(`/${customer?.id ?? 0}`)
  t.ok(await until(() => hook.received.length >= 1), 'a delivery')
  await sleep(500)
  t.same(
    bodies(hook.received).map((event) => event.type),
    ['customer.deleted'],
    'only the delete',
  )
})
