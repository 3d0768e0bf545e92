import { sql, type Selectable } from 'kysely'
import type { EventType, WebhookEndpointsTable } from './database.js'
import { crossBusiness } from './cross-business.js'
import { feedEnd } from './customer-events.js'
import type { Executor } from './executor.js'

/** An endpoint as the API shows it: not its secret, nor where its deliveries are. */
export type EndpointRow = Pick<
  Selectable<WebhookEndpointsTable>,
  'id' | 'business_id' | 'url' | 'events' | 'enabled' | 'created_at' | 'updated_at'
>

const SHOWN = ['id', 'business_id', 'url', 'events', 'enabled', 'created_at', 'updated_at'] as const

export async function insertEndpoint(
  db: Executor,
  businessId: number,
  endpoint: { url: string; events: EventType[]; secret: string },
): Promise<EndpointRow> {
  return db
    .insertInto('webhook_endpoints')
    .values({ business_id: businessId, ...endpoint, delivered_position: feedEnd(businessId) })
    .returning(SHOWN)
    .executeTakeFirstOrThrow()
}

export async function listEndpoints(db: Executor, businessId: number): Promise<EndpointRow[]> {
  return db
    .selectFrom('webhook_endpoints')
    .select(SHOWN)
    .where('business_id', '=', businessId)
    .orderBy('id')
    .execute()
}

export async function findEndpoint(
  db: Executor,
  businessId: number,
  endpointId: number,
): Promise<EndpointRow | undefined> {
  return db
    .selectFrom('webhook_endpoints')
    .select(SHOWN)
    .where('business_id', '=', businessId)
    .where('id', '=', endpointId)
    .executeTakeFirst()
}

/**
 * Changes what is given; an endpoint enabled again starts at the end of the feed (what it
 * missed is not replayed).
 */
export async function updateEndpoint(
  db: Executor,
  businessId: number,
  endpointId: number,
  change: { url?: string; events?: EventType[]; enabled?: boolean },
): Promise<EndpointRow | undefined> {
  return db
    .updateTable('webhook_endpoints')
    .set({
      ...change,
      updated_at: sql`now()`,
      ...(change.enabled === true
        ? {
            delivered_position: sql<number>`case when enabled then delivered_position
              else ${feedEnd(businessId)} end`,
          }
        : {}),
    })
    .where('business_id', '=', businessId)
    .where('id', '=', endpointId)
    .returning(SHOWN)
    .executeTakeFirst()
}

/** True when there was such an endpoint (its delivery log goes with it). */
export async function deleteEndpoint(
  db: Executor,
  businessId: number,
  endpointId: number,
): Promise<boolean> {
  const result = await db
    .deleteFrom('webhook_endpoints')
    .where('business_id', '=', businessId)
    .where('id', '=', endpointId)
    .executeTakeFirst()
  return result.numDeletedRows > 0n
}

/** What a delivery needs of its endpoint. */
export interface DeliveryTarget {
  business_id: number
  id: number
  url: string
  events: EventType[]
  secret: string
  delivered_position: number
  failing_since: Date | null
}

/**
 * Enabled endpoints of every business with numbered events past their position, whose retry
 * (if their next event is failing) is due.
 */
export async function dueEndpoints(db: Executor): Promise<DeliveryTarget[]> {
  return db
    .selectFrom('webhook_endpoints as w')
    .modifyFront(crossBusiness('the delivery dispatcher finds due endpoints of every business'))
    .select([
      'w.business_id',
      'w.id',
      'w.url',
      'w.events',
      'w.secret',
      'w.delivered_position',
      'w.failing_since',
    ])
    .where('w.enabled', '=', true)
    .where((eb) =>
      eb.or([eb('w.next_attempt_at', 'is', null), eb('w.next_attempt_at', '<=', sql<Date>`now()`)]),
    )
    .where(({ exists, selectFrom }) =>
      exists(
        selectFrom('customer_events as e')
          .select('e.id')
          .whereRef('e.business_id', '=', 'w.business_id')
          .whereRef('e.position', '>', 'w.delivered_position'),
      ),
    )
    .orderBy('w.business_id')
    .orderBy('w.id')
    .execute()
}

/** Businesses with enabled endpoints and events not numbered yet. */
export async function businessesToNumber(db: Executor): Promise<number[]> {
  const rows = await db
    .selectFrom('webhook_endpoints as w')
    .modifyFront(crossBusiness('finds the businesses whose events are to be numbered'))
    .select('w.business_id')
    .distinct()
    .where('w.enabled', '=', true)
    .where(({ exists, selectFrom }) =>
      exists(
        selectFrom('customer_events as e')
          .select('e.id')
          .whereRef('e.business_id', '=', 'w.business_id')
          .where('e.position', 'is', null)
          // Where the sequencer starts (2026-12-05T0100): below it, only numbered events'
          // dead index entries. The fence keeps this a probe per business with that start as
          // its index condition, not a semi join reading the whole index.
          .where(
            'e.transaction_id',
            '>=',
            sql<string>`customer_events_unnumbered_from(w.business_id)`,
          )
          .offset(0),
      ),
    )
    .execute()
  return rows.map((row) => row.business_id)
}

/**
 * The endpoint has received (or given up on, or does not take) everything up to `position`;
 * its next event is not failing. Nothing when the endpoint is gone or already further.
 */
export async function advanceEndpoint(
  db: Executor,
  businessId: number,
  endpointId: number,
  position: number,
): Promise<void> {
  await db
    .updateTable('webhook_endpoints')
    .set({ delivered_position: position, failing_since: null, next_attempt_at: null })
    .where('business_id', '=', businessId)
    .where('id', '=', endpointId)
    .where('delivered_position', '<', position)
    .execute()
}

/** The endpoint's next event failed: retried no sooner than `retryInMs` from now. */
export async function postponeEndpoint(
  db: Executor,
  businessId: number,
  endpointId: number,
  retryInMs: number,
): Promise<void> {
  await db
    .updateTable('webhook_endpoints')
    .set({
      failing_since: sql`coalesce(failing_since, now())`,
      next_attempt_at: sql`now() + ${retryInMs} * interval '1 millisecond'`,
    })
    .where('business_id', '=', businessId)
    .where('id', '=', endpointId)
    .execute()
}
