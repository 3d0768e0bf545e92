import { sql, type Selectable } from 'kysely'
import type { EventType, WebhookEndpointsTable } from './database.js'
import type { Executor } from './executor.js'

/** An endpoint as the API shows it: everything but its secret and its position. */
export type EndpointRow = Omit<Selectable<WebhookEndpointsTable>, 'secret' | 'delivered_position'>

const SHOWN = ['id', 'business_id', 'url', 'events', 'enabled', 'created_at', 'updated_at'] as const

/** The end of the business's feed now: where a new or re-enabled endpoint starts. */
const feedEnd = (businessId: number) =>
  sql<number>`(select coalesce(max(position), 0) from customer_events
    where business_id = ${businessId})`

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

/** What a delivery needs of its endpoint, locked for the delivery's transaction. */
export interface DeliveryTarget {
  url: string
  events: EventType[]
  enabled: boolean
  secret: string
  delivered_position: number
}

export async function lockDeliveryTarget(
  db: Executor,
  businessId: number,
  endpointId: number,
): Promise<DeliveryTarget | undefined> {
  return db
    .selectFrom('webhook_endpoints')
    .select(['url', 'events', 'enabled', 'secret', 'delivered_position'])
    .where('business_id', '=', businessId)
    .where('id', '=', endpointId)
    .forUpdate()
    .executeTakeFirst()
}

/** The endpoint has received (or given up on) everything up to `position`. */
export async function advanceEndpoint(
  db: Executor,
  businessId: number,
  endpointId: number,
  position: number,
): Promise<void> {
  await db
    .updateTable('webhook_endpoints')
    .set({ delivered_position: position })
    .where('business_id', '=', businessId)
    .where('id', '=', endpointId)
    .where('delivered_position', '<', position)
    .execute()
}

/** Enabled endpoints with numbered events past their position, over every business. */
export async function endpointsBehind(
  db: Executor,
): Promise<{ business_id: number; id: number }[]> {
  return db
    .selectFrom('webhook_endpoints as w')
    .select(['w.business_id', 'w.id'])
    .where('w.enabled', '=', true)
    .where(({ exists, selectFrom }) =>
      exists(
        selectFrom('customer_events as e')
          .select('e.id')
          .whereRef('e.business_id', '=', 'w.business_id')
          .whereRef('e.position', '>', 'w.delivered_position'),
      ),
    )
    .execute()
}
