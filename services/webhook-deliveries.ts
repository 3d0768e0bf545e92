import { setTimeout as sleep } from 'node:timers/promises'
import { nextEventsOf, sequenceEvents, type EventRow } from '../db/customer-events.js'
import { inTransaction, type Executor } from '../db/executor.js'
import { insertDeliveries } from '../db/webhook-deliveries.js'
import {
  advanceEndpoint,
  businessesToNumber,
  dueEndpoints,
  postponeEndpoint,
  type DeliveryTarget,
} from '../db/webhook-endpoints.js'
import { isMissingReference } from '../lib/database-errors.js'
import { ConnectionPool } from '../lib/outbound/connection-pool.js'
import type { DeliverySettings } from '../lib/outbound/outbound.js'
import { pinEndpoint, postPinned, type PostResult } from '../lib/outbound/post-json.js'
import { signatureHeader } from '../lib/webhook-signature.js'
import { toEvent } from './representations.js'

export const GIVE_UP_AFTER_MS = 72 * 60 * 60 * 1000
const MAX_RETRY_DELAY_MS = 60 * 60 * 1000
/** Endpoints delivered to at once; each still gets its own events one at a time, in order. */
const ENDPOINTS_AT_ONCE = 8
/** Events read, and sent, to one endpoint before its row is read again. */
const EVENTS_PER_ROUND = 100
/** How often a long run of sends to one endpoint is logged (else once, at its end). */
const LOG_EVERY_MS = 1000
/** How long the loop waits after a round failed (the database busy or away). */
const ROUND_RETRY_MS = 1000
/** How long the loop waits when nothing was due. */
const IDLE_WAIT_MS = 200

/** The delay before attempt `attempt + 1`, after `attempt` failures: doubling, up to an hour. */
export function retryDelayMs(attempt: number, baseMs: number): number {
  return Math.min(baseMs * 2 ** (attempt - 1), MAX_RETRY_DELAY_MS)
}

/** An event sent in this round, its answer, and whether the endpoint is done with it. */
interface Sent {
  event: EventRow
  result: PostResult
  /** Delivered (2xx), or given up after failing too long: the endpoint moves past it. */
  done: boolean
}

/**
 * Sends the endpoint its next events (up to a round's share, read in one statement), one at a
 * time in feed order over one kept connection to the address checked for this round, until
 * none is left, one fails (the endpoint then waits for its retry) or `signal` stops the loop.
 * Attempts are logged, and the endpoint's position moved past the events taken, after their
 * answers, a batch at a time: a worker killed in between sends those events again (at least
 * once, with the same ids).
 */
async function deliverToEndpoint(
  db: Executor,
  endpoint: DeliveryTarget,
  deps: DeliverySettings,
  pool: ConnectionPool,
  signal: AbortSignal,
): Promise<void> {
  const { business_id: businessId, id: endpointId } = endpoint
  const { events, end } = await nextEventsOf(
    db,
    businessId,
    endpoint.delivered_position,
    endpoint.events,
    EVENTS_PER_ROUND,
  )
  if (events.length === 0) {
    // The events it does not take are passed over, so it no longer counts as behind.
    await advanceEndpoint(db, businessId, endpointId, end)
    return
  }
  // Checked once a round, not once an event; the next round checks again (DNS can change).
  const pinned = await pinEndpoint(endpoint.url, deps.outbound.policy, deps.timeoutMs)
  let failingSince = endpoint.failing_since
  let unlogged: Sent[] = []
  let loggedAt = Date.now()
  for (const event of events) {
    if (signal.aborted) break
    const body = JSON.stringify(toEvent(event))
    const result =
      'ok' in pinned
        ? await postPinned(pinned, body, {
            pool,
            timeoutMs: deps.timeoutMs,
            headers: {
              'payme-signature': signatureHeader(endpoint.secret, body),
              'payme-event-id': String(event.id),
              'user-agent': 'PayMe-Customers-Webhooks/1',
            },
          })
        : pinned
    const delivered =
      result.statusCode !== null && result.statusCode >= 200 && result.statusCode < 300
    const givingUp =
      !delivered &&
      failingSince !== null &&
      Date.now() - failingSince.getTime() >= (deps.giveUpAfterMs ?? GIVE_UP_AFTER_MS)
    unlogged.push({ event, result, done: delivered || givingUp })
    deps.observe?.(
      delivered ? 'delivered' : givingUp ? 'given_up' : 'failed',
      (Date.now() - event.created_at.getTime()) / 1000,
    )
    if (!delivered && !givingUp) {
      await logAttempts(db, endpoint, unlogged, deps.retryBaseMs)
      return
    }
    failingSince = null
    // A long run (a slow receiver) is logged as it goes, not only at its end.
    if (Date.now() - loggedAt >= LOG_EVERY_MS) {
      if (!(await logAttempts(db, endpoint, unlogged, deps.retryBaseMs))) return
      unlogged = []
      loggedAt = Date.now()
    }
  }
  // All of a short batch taken: nothing of its types lies between its last event and the end.
  const throughEnd = !signal.aborted && events.length < EVENTS_PER_ROUND
  await logAttempts(db, endpoint, unlogged, deps.retryBaseMs, throughEnd ? end : undefined)
}

/**
 * The attempts in the delivery log (one statement, numbered per event) and, in the same
 * transaction, the endpoint moved past the events it is done with (to `end` instead, when
 * given) and, when the last attempt failed, given its retry time. False when the endpoint was
 * deleted meanwhile (its log went with it, and nothing more is sent).
 */
async function logAttempts(
  db: Executor,
  endpoint: DeliveryTarget,
  sent: readonly Sent[],
  retryBaseMs: number,
  end?: number,
): Promise<boolean> {
  const { business_id: businessId, id: endpointId } = endpoint
  const last = sent.at(-1)
  if (last === undefined) return true
  const through = last.done ? (end ?? last.event.position) : sent.at(-2)?.event.position
  try {
    await inTransaction(db, async (trx) => {
      const attempts = await insertDeliveries(
        trx,
        businessId,
        endpointId,
        sent.map(({ event, result }) => ({
          event_id: event.id,
          status_code: result.statusCode,
          error: result.error,
          duration_ms: result.durationMs,
        })),
      )
      if (through !== undefined) await advanceEndpoint(trx, businessId, endpointId, through)
      if (!last.done) {
        const made = attempts.find((logged) => logged.event_id === last.event.id)?.attempt ?? 1
        await postponeEndpoint(trx, businessId, endpointId, retryDelayMs(made, retryBaseMs))
      }
    })
  } catch (error) {
    if (isMissingReference(error)) return false
    throw error
  }
  return true
}

/**
 * One round: numbers the committed events of businesses with endpoints, then sends every due
 * endpoint its events (several endpoints at once). Returns how many endpoints were due.
 */
export async function deliverDue(
  db: Executor,
  deps: DeliverySettings,
  pool: ConnectionPool,
  signal: AbortSignal,
): Promise<number> {
  for (const businessId of await businessesToNumber(db)) await sequenceEvents(db, businessId)
  const due = await dueEndpoints(db)
  for (let start = 0; start < due.length && !signal.aborted; start += ENDPOINTS_AT_ONCE) {
    await Promise.all(
      due
        .slice(start, start + ENDPOINTS_AT_ONCE)
        .map((endpoint) => deliverToEndpoint(db, endpoint, deps, pool, signal)),
    )
  }
  return due.length
}

/**
 * Rounds of `deliverDue` until `signal` aborts or `untilMs` (a time from Date.now()) passes,
 * waiting a little when nothing was due. One such loop runs at a time across every instance
 * (the job queue's one-at-a-time job), so each endpoint's events go out in order. Connections
 * to endpoints are kept between rounds (to the address each round checked) and closed at the end.
 */
export async function runDeliveries(
  db: Executor,
  deps: DeliverySettings,
  signal: AbortSignal,
  untilMs: number,
): Promise<void> {
  const pool = new ConnectionPool(deps.outbound.connect)
  try {
    while (!signal.aborted && Date.now() < untilMs) {
      let due: number
      try {
        due = await deliverDue(db, deps, pool, signal)
      } catch (error) {
        // A busy or restarting database fails a round, not the loop: the next round picks up
        // where the committed positions are (an attempt not yet logged is sent again).
        deps.onError?.(error)
        await sleep(ROUND_RETRY_MS, undefined, { signal }).catch(() => undefined)
        continue
      }
      if (due === 0) await sleep(IDLE_WAIT_MS, undefined, { signal }).catch(() => undefined)
    }
  } finally {
    pool.close()
  }
}
