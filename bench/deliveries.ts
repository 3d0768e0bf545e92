/**
 * The delivery scenario (issue 18, "Events out"): how long an event takes from its transaction to
 * a webhook endpoint. A receiver in this process (HTTP on 127.0.0.1, answering 200 at once)
 * records when each delivery arrives; one endpoint for every event type is registered through
 * the API; then customers (distinct, from the fixture) are patched at a fixed rate — one
 * `customer.updated` event each — and the bench waits until every event the database holds from
 * that time has arrived. Lag = arrival − the event's `created_at` (its transaction's start, as
 * the delivered body carries it), after one event sent and delivered before the load (so the
 * delivery loop is running) and a warm-up of the same load, waited for and reported apart, as
 * every other scenario has one (cold, the service and the loop fell behind for its first seconds
 * on the million-customer database). Checked: each generated event delivered (duplicates
 * counted), each signature valid. Target: p99 under 2 s at 200 events/s. The endpoint is deleted
 * at the end.
 *
 * The service refuses URLs other than https to public addresses when NODE_ENV=production, so the
 * bench runs it with NODE_ENV=development for this scenario (and only alone): the outbound URL
 * policy is the one thing that changes that matters here (bench/README.md).
 */
import { once } from 'node:events'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { sql, type Kysely } from 'kysely'
import { EVENT_TYPES, type Database } from '../db/database.js'
import { verifySignature } from '../lib/webhook-signature.js'
import { lastEventId } from './outbox.js'

export const DELIVERY_RATE = 200
export const DELIVERY_SECONDS = 30
export const DELIVERY_WARMUP_SECONDS = 5
export const DELIVERY_P99_TARGET_MS = 2000
/** How long the bench waits, after the last request, for the last deliveries. */
const DRAIN_PATIENCE_MS = 120_000

interface Arrival {
  id: number
  createdAt: number
  arrivedAt: number
  signed: boolean
}

interface LagSummary {
  count: number
  p50: number
  p95: number
  p99: number
  max: number
}

export interface DeliveryResult {
  businessId: number
  /** The rate asked for and how many seconds; the rate the requests actually left at. */
  rate: number
  seconds: number
  sentRate: number
  requests: number
  requestsOk: number
  requestStatuses: Record<string, number>
  /** Events of the business written from the endpoint's creation on (the database's count). */
  eventsGenerated: number
  /** Of those, delivered at least once. */
  delivered: number
  missing: number
  /** Deliveries beyond the first of an event. */
  duplicates: number
  /** Deliveries of events not among those generated (must be none). */
  unexpected: number
  badSignatures: number
  /** Lag of each event's first delivery, in ms. */
  lag: LagSummary
  /** The same per 5 s of the load (by the event's created_at): whether a backlog builds up. */
  lagByWindow: ({ fromSecond: number } & LagSummary)[]
  /** From the last request's answer to the last event's arrival, in ms. */
  drainMs: number
  /** From the endpoint's creation to the arrival of one event sent before the load, in ms. */
  firstDeliveryMs: number
  /** The same load for a few seconds before it, not counted: its events' lag. */
  warmup: { seconds: number; lag: LagSummary }
  met: boolean
}

function percentile(sorted: number[], share: number): number {
  if (sorted.length === 0) return 0
  return sorted[Math.min(sorted.length - 1, Math.ceil(share * sorted.length) - 1)] ?? 0
}

function summarize(lags: number[]): LagSummary {
  const sorted = [...lags].sort((a, b) => a - b)
  return {
    count: sorted.length,
    p50: percentile(sorted, 0.5),
    p95: percentile(sorted, 0.95),
    p99: percentile(sorted, 0.99),
    max: sorted.at(-1) ?? 0,
  }
}

/** The receiver: every POST recorded with its arrival time, answered 200 at once. */
async function startReceiver(secret: () => string) {
  const arrivals: Arrival[] = []
  let malformed = 0
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      const arrivedAt = Date.now()
      const raw = Buffer.concat(chunks)
      try {
        const event = JSON.parse(raw.toString('utf8')) as { id: number; created_at: string }
        const header = request.headers['payme-signature']
        arrivals.push({
          id: Number(event.id),
          createdAt: Date.parse(event.created_at),
          arrivedAt,
          signed: verifySignature(typeof header === 'string' ? header : undefined, raw, [secret()]),
        })
      } catch {
        malformed += 1
      }
      response.writeHead(200, { 'content-type': 'text/plain' }).end('ok')
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/payme-events`,
    arrivals,
    malformed: () => malformed,
    close: async () => {
      server.closeAllConnections()
      server.close()
      await once(server, 'close')
    },
  }
}

/**
 * Patches `count` customers, `rate` a second: request i leaves at start + i / rate, whether or
 * not the earlier ones answered. Customers from the fixture's list, from position `offset` on.
 */
async function patchAtRate(
  api: string,
  headers: Record<string, string>,
  customerIds: number[],
  rate: number,
  count: number,
  offset: number,
): Promise<{ statuses: Record<string, number>; sentSeconds: number }> {
  const statuses: Record<string, number> = {}
  const pending: Promise<void>[] = []
  const start = performance.now()
  for (let i = 0; i < count; i += 1) {
    const due = start + (i * 1000) / rate
    const wait = due - performance.now()
    if (wait > 1) await sleep(wait)
    const n = offset + i
    const customerId = customerIds[(n * 7919) % customerIds.length]
    pending.push(
      fetch(`${api}/${customerId}`, {
        method: 'PATCH',
        headers,
        body: JSON.stringify({ customer_type: n % 2 ? 'regular' : 'vip' }),
      }).then(
        async (response) => {
          await response.arrayBuffer()
          statuses[response.status] = (statuses[response.status] ?? 0) + 1
        },
        () => {
          statuses.error = (statuses.error ?? 0) + 1
        },
      ),
    )
  }
  const sentSeconds = (performance.now() - start) / 1000
  await Promise.all(pending)
  return { statuses, sentSeconds }
}

/**
 * Registers the endpoint, patches `rate` customers a second for a warm-up and then for
 * `seconds`, waits for the deliveries, deletes the endpoint and summarizes.
 */
export async function runDeliveryBench(
  serviceUrl: string,
  db: Kysely<Database>,
  businessId: number,
  customerIds: number[],
  authorization: string,
  { rate, seconds }: { rate: number; seconds: number },
): Promise<DeliveryResult> {
  const api = `${serviceUrl}/api/customers/${businessId}`
  const headers = { authorization, 'content-type': 'application/json' }
  let secret = ''
  const receiver = await startReceiver(() => secret)
  const created = await fetch(`${api}/webhook-endpoints`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ url: receiver.url, events: EVENT_TYPES }),
  })
  if (created.status !== 201) {
    await receiver.close()
    throw new Error(`registering the endpoint: ${created.status} ${await created.text()}`)
  }
  const { webhook_endpoint: endpoint } = (await created.json()) as {
    webhook_endpoint: { id: number; secret: string }
  }
  secret = endpoint.secret
  try {
    // One event first, waited for: the delivery loop is running (it starts with the service's
    // job queue) before the load, and how long that took is reported on its own.
    const registered = Date.now()
    const warmup = await fetch(`${api}/${customerIds[0]}`, {
      method: 'PATCH',
      headers,
      body: JSON.stringify({ customer_type: 'regular' }),
    })
    await warmup.arrayBuffer()
    for (let waited = 0; receiver.arrivals.length === 0 && waited < DRAIN_PATIENCE_MS;) {
      await sleep(50)
      waited += 50
    }
    const firstDeliveryMs = (receiver.arrivals[0]?.arrivedAt ?? Date.now()) - registered

    const load = (count: number, offset: number) =>
      patchAtRate(api, headers, customerIds, rate, count, offset)
    /** Waits until every event of the business after `after` has arrived; returns their ids. */
    const drain = async (after: number) => {
      // Committed, since every request has answered.
      const { rows } = await sql<{ id: string }>`select id::text as id from customer_events
        where business_id = ${businessId} and id > ${after} order by id`.execute(db)
      const generated = new Set(rows.map((row) => Number(row.id)))
      for (let waited = 0; waited < DRAIN_PATIENCE_MS; waited += 100) {
        const arrived = new Set(receiver.arrivals.map((arrival) => arrival.id))
        if ([...generated].every((id) => arrived.has(id))) break
        await sleep(100)
      }
      return generated
    }

    const beforeWarmup = await lastEventId(db)
    const warmupCount = rate * DELIVERY_WARMUP_SECONDS
    await load(warmupCount, 0)
    const warmupEvents = await drain(beforeWarmup)
    const warmupLag = summarize(
      receiver.arrivals
        .filter((arrival) => warmupEvents.has(arrival.id))
        .map((arrival) => arrival.arrivedAt - arrival.createdAt),
    )

    const after = await lastEventId(db)
    const warmupDeliveries = receiver.arrivals.length
    const total = rate * seconds
    const { statuses, sentSeconds } = await load(total, warmupCount)
    const loadEnded = Date.now()
    const generated = await drain(after)
    const drainMs = Math.max(0, (receiver.arrivals.at(-1)?.arrivedAt ?? loadEnded) - loadEnded)

    const first = new Map<number, Arrival>()
    let duplicates = 0
    let unexpected = 0
    for (const arrival of receiver.arrivals.slice(warmupDeliveries)) {
      if (!generated.has(arrival.id)) unexpected += 1
      else if (first.has(arrival.id)) duplicates += 1
      else first.set(arrival.id, arrival)
    }
    const firsts = [...first.values()]
    const lag = summarize(firsts.map((arrival) => arrival.arrivedAt - arrival.createdAt))
    const origin = Math.min(...firsts.map((arrival) => arrival.createdAt))
    const windows = new Map<number, number[]>()
    for (const arrival of firsts) {
      const window = Math.floor((arrival.createdAt - origin) / 5000) * 5
      windows.set(window, [...(windows.get(window) ?? []), arrival.arrivedAt - arrival.createdAt])
    }
    const requestsOk = Object.entries(statuses)
      .filter(([code]) => code.startsWith('2'))
      .reduce((sum, [, count]) => sum + count, 0)
    const delivered = first.size
    const badSignatures =
      receiver.arrivals.slice(warmupDeliveries).filter((arrival) => !arrival.signed).length +
      receiver.malformed()
    return {
      businessId,
      rate,
      seconds,
      sentRate: Math.round(total / sentSeconds),
      requests: total,
      requestsOk,
      requestStatuses: statuses,
      eventsGenerated: generated.size,
      delivered,
      missing: generated.size - delivered,
      duplicates,
      unexpected,
      badSignatures,
      lag,
      lagByWindow: [...windows.entries()]
        .sort(([a], [b]) => a - b)
        .map(([fromSecond, lags]) => ({ fromSecond, ...summarize(lags) })),
      drainMs,
      firstDeliveryMs,
      warmup: { seconds: DELIVERY_WARMUP_SECONDS, lag: warmupLag },
      met:
        lag.p99 < DELIVERY_P99_TARGET_MS &&
        delivered === generated.size &&
        unexpected === 0 &&
        badSignatures === 0,
    }
  } finally {
    const deleted = await fetch(`${api}/webhook-endpoints/${endpoint.id}`, {
      method: 'DELETE',
      headers: { authorization },
    })
    if (deleted.status !== 204) {
      console.error(`deleting the bench's endpoint ${endpoint.id}: ${deleted.status}`)
    }
    await receiver.close()
  }
}

export function renderDeliveries(result: DeliveryResult): string {
  const ms = (value: number) => value.toLocaleString('en')
  return [
    `## Webhook deliveries (${result.rate} events/s asked for ${result.seconds} s, to one local endpoint)`,
    '',
    `Requests: ${result.requests} PATCHes sent at ${result.sentRate}/s, ${result.requestsOk} answered 2xx (${JSON.stringify(result.requestStatuses)}). Events generated: ${result.eventsGenerated}; delivered: ${result.delivered} (missing ${result.missing}, duplicates ${result.duplicates}, unexpected ${result.unexpected}, bad signatures ${result.badSignatures}). Last delivery ${ms(result.drainMs)} ms after the last answer. Before the load, one event took ${ms(result.firstDeliveryMs)} ms from the endpoint's creation to its delivery, and a warm-up of ${result.warmup.seconds} s of the same load (not counted below) had ${result.warmup.lag.count} events delivered with lag p50 ${ms(result.warmup.lag.p50)} ms, p99 ${ms(result.warmup.lag.p99)} ms, max ${ms(result.warmup.lag.max)} ms.`,
    '',
    '| lag (arrival − created_at) | events | p50 ms | p95 ms | p99 ms | max ms | target (p99 < 2,000 ms) |',
    '|---|---|---|---|---|---|---|',
    `| all | ${result.lag.count} | ${ms(result.lag.p50)} | ${ms(result.lag.p95)} | ${ms(result.lag.p99)} | ${ms(result.lag.max)} | ${result.met ? 'met' : 'NOT met'} |`,
    ...result.lagByWindow.map(
      (window) =>
        `| events of s ${window.fromSecond}–${window.fromSecond + 5} | ${window.count} | ${ms(window.p50)} | ${ms(window.p95)} | ${ms(window.p99)} | ${ms(window.max)} | |`,
    ),
    '',
  ].join('\n')
}
