import type { Selectable } from 'kysely'
import type { WebhookDeliveriesTable } from './database.js'
import type { Executor } from './executor.js'

export type DeliveryRow = Pick<
  Selectable<WebhookDeliveriesTable>,
  'event_id' | 'attempt' | 'status_code' | 'error' | 'duration_ms' | 'at'
>

export async function insertDelivery(
  db: Executor,
  businessId: number,
  delivery: Omit<DeliveryRow, 'at'> & { endpoint_id: number },
): Promise<void> {
  await db
    .insertInto('webhook_deliveries')
    .values({ business_id: businessId, ...delivery })
    .execute()
}

/** How many attempts the endpoint has made at the event so far. */
export async function attemptsAt(
  db: Executor,
  businessId: number,
  endpointId: number,
  eventId: number,
): Promise<number> {
  const row = await db
    .selectFrom('webhook_deliveries')
    .select((eb) => eb.fn.countAll<number>().as('attempts'))
    .where('business_id', '=', businessId)
    .where('endpoint_id', '=', endpointId)
    .where('event_id', '=', eventId)
    .executeTakeFirstOrThrow()
  return Number(row.attempts)
}

/** The endpoint's newest attempts first. */
export async function listDeliveries(
  db: Executor,
  businessId: number,
  endpointId: number,
  limit: number,
): Promise<DeliveryRow[]> {
  return db
    .selectFrom('webhook_deliveries')
    .select(['event_id', 'attempt', 'status_code', 'error', 'duration_ms', 'at'])
    .where('business_id', '=', businessId)
    .where('endpoint_id', '=', endpointId)
    .orderBy('id', 'desc')
    .limit(limit)
    .execute()
}
