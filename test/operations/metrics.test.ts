import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { signatureHeader } from '../../lib/webhook-signature.js'
import {
  authFor,
  build,
  onPostgres,
  secondConnection,
  TEST_WEBHOOK_SECRET,
  type TestServer,
} from '../helper.js'
import { parseMetrics, sampleValue, type Sample } from './prometheus.js'

const BUSINESS = 41
const CUSTOMERS = '/api/customers/:businessId'
const CUSTOMER = '/api/customers/:businessId/:customerId'

async function scrape(server: TestServer): Promise<Sample[]> {
  const response = await server.inject({ method: 'GET', url: '/metrics' })
  if (response.statusCode !== 200) throw new Error(`/metrics answered ${response.statusCode}`)
  return parseMetrics(response.body)
}

function saleEvent(id: string, customerId: number | null, saleId: string) {
  return {
    id,
    type: 'sale.completed',
    created_at: new Date().toISOString(),
    data: {
      sale_id: saleId,
      business_id: BUSINESS,
      customer_id: customerId,
      total_amount: '150.00',
      items_count: 1,
      payment_method: 'cash',
      completed_at: new Date().toISOString(),
    },
  }
}

async function postEvent(server: TestServer, event: unknown, signature?: string) {
  const body = JSON.stringify(event)
  return server.inject({
    method: 'POST',
    url: '/webhooks/sales',
    headers: {
      'content-type': 'application/json',
      'payme-signature': signature ?? signatureHeader(TEST_WEBHOOK_SECRET, body),
    },
    payload: body,
  })
}

t.test('GET /metrics is Prometheus text', async (t) => {
  const server = await build(t)
  const response = await server.inject({ method: 'GET', url: '/metrics' })
  t.equal(response.statusCode, 200, 'status')
  t.match(response.headers['content-type'], /^text\/plain; version=0\.0\.4/, 'content type')
  const samples = parseMetrics(response.body)
  for (const name of [
    'process_cpu_user_seconds_total',
    'process_resident_memory_bytes',
    'nodejs_eventloop_lag_seconds',
    'nodejs_heap_size_used_bytes',
  ]) {
    t.ok(sampleValue(samples, name) !== undefined, `process metric ${name}`)
  }
})

t.test('after traffic: requests, errors and webhook outcomes by label', async (t) => {
  const server = await build(t)
  const auth = authFor(BUSINESS)
  const ids: number[] = []
  for (const name of ['Akinyi', 'Baraka', 'Chebet']) {
    const response = await server.inject({
      method: 'POST',
      url: `/api/customers/${BUSINESS}`,
      headers: auth,
      payload: { name },
    })
    t.equal(response.statusCode, 201, `create ${name}`)
    ids.push((response.json() as { customer: { id: number } }).customer.id)
  }
  t.equal(
    (
      await server.inject({
        method: 'GET',
        url: `/api/customers/${BUSINESS}/${ids[0]}`,
        headers: auth,
      })
    ).statusCode,
    200,
    'read',
  )
  t.equal(
    (
      await server.inject({
        method: 'GET',
        url: `/api/customers/${BUSINESS}/999999`,
        headers: auth,
      })
    ).statusCode,
    404,
    'unknown customer',
  )
  t.equal(
    (await server.inject({ method: 'GET', url: `/api/customers/${BUSINESS}` })).statusCode,
    401,
    'no token',
  )
  t.equal(
    (await server.inject({ method: 'GET', url: '/no/such/path' })).statusCode,
    404,
    'unknown path',
  )

  const outcomes: [string, unknown, string | undefined, number, string][] = [
    ['processed', saleEvent('evt_m1', ids[0]!, 'S-M1'), undefined, 200, 'processed'],
    ['processed', saleEvent('evt_m2', ids[1]!, 'S-M2'), undefined, 200, 'processed'],
    ['duplicate', saleEvent('evt_m1', ids[0]!, 'S-M1'), undefined, 200, 'duplicate'],
    ['ignored', saleEvent('evt_m3', null, 'S-M3'), undefined, 200, 'ignored'],
    ['bad signature', saleEvent('evt_m4', ids[0]!, 'S-M4'), 't=1,v1=00', 401, 'rejected'],
    ['unknown customer', saleEvent('evt_m5', 999999, 'S-M5'), undefined, 422, 'rejected'],
  ]
  for (const [name, event, signature, status, outcome] of outcomes) {
    const response = await postEvent(server, event, signature)
    t.equal(response.statusCode, status, `webhook ${name}: status`)
    if (status === 200) t.equal(response.json().status, outcome, `webhook ${name}: outcome`)
  }

  const samples = await scrape(server)
  const requests = (method: string, route: string, status: number) =>
    sampleValue(samples, 'http_request_duration_seconds_count', {
      method,
      route,
      status_code: String(status),
    })
  t.equal(requests('POST', CUSTOMERS, 201), 3, 'request count: POST customers 201')
  t.equal(requests('GET', CUSTOMER, 200), 1, 'request count: GET customer 200')
  t.equal(requests('GET', CUSTOMER, 404), 1, 'request count: GET customer 404')
  t.equal(requests('GET', CUSTOMERS, 401), 1, 'request count: GET customers 401')
  t.equal(requests('GET', 'unmatched', 404), 1, 'request count: an unknown path is "unmatched"')
  t.equal(requests('POST', '/webhooks/sales', 200), 4, 'request count: webhook 200')
  t.equal(
    sampleValue(samples, 'http_request_duration_seconds_bucket', {
      method: 'POST',
      route: CUSTOMERS,
      status_code: '201',
      le: '+Inf',
    }),
    3,
    'latency histogram: +Inf bucket holds every request',
  )
  const buckets = samples.filter(
    (sample) =>
      sample.name === 'http_request_duration_seconds_bucket' &&
      sample.labels.route === CUSTOMERS &&
      sample.labels.status_code === '201',
  )
  t.ok(
    buckets.some((sample) => sample.labels.le === '0.2'),
    'latency histogram: a bucket edge at the 200 ms objective',
  )
  t.ok(
    (sampleValue(samples, 'http_request_duration_seconds_sum', {
      method: 'POST',
      route: CUSTOMERS,
      status_code: '201',
    }) ?? 0) > 0,
    'latency histogram: a sum of seconds',
  )

  const errors = (method: string, route: string, status: number) =>
    sampleValue(samples, 'http_request_errors_total', {
      method,
      route,
      status_code: String(status),
    })
  t.equal(errors('GET', CUSTOMER, 404), 1, 'errors: 404 customer')
  t.equal(errors('GET', CUSTOMERS, 401), 1, 'errors: 401')
  t.equal(errors('GET', 'unmatched', 404), 1, 'errors: unknown path')
  t.equal(errors('POST', '/webhooks/sales', 401), 1, 'errors: webhook 401')
  t.equal(errors('POST', '/webhooks/sales', 422), 1, 'errors: webhook 422')
  t.equal(errors('POST', CUSTOMERS, 201), undefined, 'errors: none for a 201')

  const webhook = (outcome: string) => sampleValue(samples, 'webhook_events_total', { outcome })
  t.equal(webhook('processed'), 2, 'webhook: processed')
  t.equal(webhook('duplicate'), 1, 'webhook: duplicate')
  t.equal(webhook('ignored'), 1, 'webhook: ignored')
  t.equal(webhook('rejected'), 2, 'webhook: rejected (401 and 422)')
  t.equal(webhook('failed'), undefined, 'webhook: nothing failed')

  t.ok((sampleValue(samples, 'db_pool_clients') ?? 0) >= 1, 'pool: at least one client')
  t.equal(sampleValue(samples, 'db_pool_waiting_clients'), 0, 'pool: nobody waiting')
  if (onPostgres()) {
    t.ok(sampleValue(samples, 'db_pool_idle_clients') !== undefined, 'pool: idle clients (pg)')
  } else {
    t.equal(sampleValue(samples, 'db_pool_clients'), 1, 'pool: embedded has its one connection')
    t.equal(sampleValue(samples, 'db_pool_idle_clients'), undefined, 'pool: no idle count embedded')
  }
})

t.test('pool series follow the pg pool: total, idle, waiting', async (t) => {
  if (!onPostgres()) {
    // Embedded PostgreSQL has no pool; its fixed values are checked above.
    t.pass('embedded: no pg pool to drive')
    return
  }
  const database = await secondConnection(1)
  t.teardown(() => database.db.destroy())
  const server = await build(t, { database })
  const pool = database.pool!
  const held = await pool.connect()
  let samples = await scrape(server)
  t.equal(sampleValue(samples, 'db_pool_clients'), 1, 'one client, held')
  t.equal(sampleValue(samples, 'db_pool_idle_clients'), 0, 'none idle')

  const waiting = server.inject({
    method: 'GET',
    url: '/api/customers/5/analytics',
    headers: authFor(5),
  })
  for (let attempt = 0; attempt < 50 && pool.waitingCount === 0; attempt += 1) await sleep(10)
  samples = await scrape(server)
  t.equal(sampleValue(samples, 'db_pool_waiting_clients'), 1, 'a request waits for the client')
  const ready = await server.inject({ method: 'GET', url: '/ready' })
  t.equal(ready.statusCode, 200, '/ready answers on its own connection while the pool is held')
  held.release()
  t.equal((await waiting).statusCode, 200, 'the waiting request is served once released')
  samples = await scrape(server)
  t.equal(sampleValue(samples, 'db_pool_waiting_clients'), 0, 'nobody waits any more')
  t.equal(sampleValue(samples, 'db_pool_idle_clients'), 1, 'the client is idle again')
})
