import { setTimeout as sleep } from 'node:timers/promises'
import { nextEventOf, sequenceEvents } from '../db/customer-events.js'
import { inTransaction, type Executor } from '../db/executor.js'
import { attemptsAt, insertDelivery } from '../db/webhook-deliveries.js'
import {
  advanceEndpoint,
  businessesToNumber,
  dueEndpoints,
  postponeEndpoint,
  type DeliveryTarget,
} from '../db/webhook-endpoints.js'
import { isMissingReference } from '../lib/database-errors.js'
import type { DeliverySettings } from '../lib/outbound/outbound.js'
import { postJson, type PostResult } from '../lib/outbound/post-json.js'
import { signatureHeader } from '../lib/webhook-signature.js'
import { toEvent } from './representations.js'

export const GIVE_UP_AFTER_MS = 72 * 60 * 60 * 1000
const MAX_RETRY_DELAY_MS = 60 * 60 * 1000
/** Endpoints delivered to at once; each still gets its own events one at a time, in order. */
const ENDPOINTS_AT_ONCE = 8
/** Events sent to one endpoint before its row is read again. */
const EVENTS_PER_ROUND = 100
/** How long the loop waits after a round failed (the database busy or away). */
const ROUND_RETRY_MS = 1000
/** How long the loop waits when nothing was due. */
const IDLE_WAIT_MS = 200

/** The delay before attempt `attempt + 1`, after `attempt` failures: doubling, up to an hour. */
export function retryDelayMs(attempt: number, baseMs: number): number {
  return Math.min(baseMs * 2 ** (attempt - 1), MAX_RETRY_DELAY_MS)
}

/**
 * Sends the endpoint its next events, one at a time in feed order, until none is left, one
 * fails (the endpoint then waits for its retry) or `signal` stops the loop. A delivery is
 * recorded, and the endpoint's position moves past the event, only after the answer: a worker
 * killed in between sends the event again (at least once, with the same id).
 */
async function deliverToEndpoint(
  db: Executor,
  endpoint: DeliveryTarget,
  deps: DeliverySettings,
  signal: AbortSignal,
): Promise<void> {
  const { business_id: businessId, id: endpointId } = endpoint
  let position = endpoint.delivered_position
  let failingSince = endpoint.failing_since
  // A round's share: then the next round reads the endpoint again (disabled, changed, deleted).
  for (let sent = 0; sent < EVENTS_PER_ROUND && !signal.aborted; sent += 1) {
    const next = await nextEventOf(db, businessId, position, endpoint.events)
    if (!('event' in next)) {
      // The events it does not take are passed over, so it no longer counts as behind.
      await advanceEndpoint(db, businessId, endpointId, next.end)
      return
    }
    const { event } = next
    const body = JSON.stringify(toEvent(event))
    const result = await postJson(endpoint.url, body, {
      policy: deps.outbound.policy,
      connect: deps.outbound.connect,
      timeoutMs: deps.timeoutMs,
      headers: {
        'payme-signature': signatureHeader(endpoint.secret, body),
        'payme-event-id': String(event.id),
        'user-agent': 'PayMe-Customers-Webhooks/1',
      },
    })
    const delivered =
      result.statusCode !== null && result.statusCode >= 200 && result.statusCode < 300
    const givingUp =
      !delivered &&
      failingSince !== null &&
      Date.now() - failingSince.getTime() >= (deps.giveUpAfterMs ?? GIVE_UP_AFTER_MS)
    try {
      await recordAttempt(db, endpoint, event, result, delivered || givingUp, deps.retryBaseMs)
    } catch (error) {
      // Deleted while the request was out: its log went with it, and nothing more is sent.
      if (isMissingReference(error)) return
      throw error
    }
    deps.observe?.(
      delivered ? 'delivered' : givingUp ? 'given_up' : 'failed',
      (Date.now() - event.created_at.getTime()) / 1000,
    )
    if (!delivered && !givingUp) return
    position = event.position
    failingSince = null
  }
}

/**
 * The attempt in the delivery log (numbered per event) and, in the same transaction, the
 * endpoint moved past the event (`done`) or given its retry time.
 */
async function recordAttempt(
  db: Executor,
  endpoint: DeliveryTarget,
  event: { id: number; position: number },
  result: PostResult,
  done: boolean,
  retryBaseMs: number,
): Promise<void> {
  const { business_id: businessId, id: endpointId } = endpoint
  await inTransaction(db, async (trx) => {
    const made = (await attemptsAt(trx, businessId, endpointId, event.id)) + 1
    await insertDelivery(trx, businessId, {
      endpoint_id: endpointId,
      event_id: event.id,
      attempt: made,
      status_code: result.statusCode,
      error: result.error,
      duration_ms: result.durationMs,
    })
    if (done) await advanceEndpoint(trx, businessId, endpointId, event.position)
    else await postponeEndpoint(trx, businessId, endpointId, retryDelayMs(made, retryBaseMs))
  })
}

/**
 * One round: numbers the committed events of businesses with endpoints, then sends every due
 * endpoint its events (several endpoints at once). Returns how many endpoints were due.
 */
export async function deliverDue(
  db: Executor,
  deps: DeliverySettings,
  signal: AbortSignal,
): Promise<number> {
  for (const businessId of await businessesToNumber(db)) await sequenceEvents(db, businessId)
  const due = await dueEndpoints(db)
  for (let start = 0; start < due.length && !signal.aborted; start += ENDPOINTS_AT_ONCE) {
    await Promise.all(
      due
        .slice(start, start + ENDPOINTS_AT_ONCE)
        .map((endpoint) => deliverToEndpoint(db, endpoint, deps, signal)),
    )
  }
  return due.length
}

/**
 * Rounds of `deliverDue` until `signal` aborts or `untilMs` (a time from Date.now()) passes,
 * waiting a little when nothing was due. One such loop runs at a time across every instance
 * (the job queue's one-at-a-time job), so each endpoint's events go out in order.
 */
export async function runDeliveries(
  db: Executor,
  deps: DeliverySettings,
  signal: AbortSignal,
  untilMs: number,
): Promise<void> {
  while (!signal.aborted && Date.now() < untilMs) {
    let due: number
    try {
      due = await deliverDue(db, deps, signal)
    } catch (error) {
      // A busy or restarting database fails a round, not the loop: the next round picks up
      // where the committed positions are (an attempt not yet logged is sent again).
      deps.onError?.(error)
      await sleep(ROUND_RETRY_MS, undefined, { signal }).catch(() => undefined)
      continue
    }
    if (due === 0) await sleep(IDLE_WAIT_MS, undefined, { signal }).catch(() => undefined)
  }
}
