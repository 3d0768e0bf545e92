import { sql, type Selectable } from 'kysely'
import type { WebhookDeliveriesTable } from './database.js'
import type { Executor } from './executor.js'

export type DeliveryRow = Pick<
  Selectable<WebhookDeliveriesTable>,
  'event_id' | 'attempt' | 'status_code' | 'error' | 'duration_ms' | 'at'
>

/** One attempt at an event, as the delivery loop has it before it is logged. */
export type Attempt = Pick<DeliveryRow, 'event_id' | 'status_code' | 'error' | 'duration_ms'>

/**
 * Logs the endpoint's attempts in one statement, in the order given (the log's order), each
 * numbered after the attempts at its event logged before (one attempt per event in a call).
 * Returns each event's attempt number.
 */
export async function insertDeliveries(
  db: Executor,
  businessId: number,
  endpointId: number,
  attempts: readonly Attempt[],
): Promise<Pick<DeliveryRow, 'event_id' | 'attempt'>[]> {
  if (attempts.length === 0) return []
  return db
    .insertInto('webhook_deliveries')
    .values(
      attempts.map((attempt) => ({
        business_id: businessId,
        endpoint_id: endpointId,
        ...attempt,
        attempt: sql<number>`(select count(*) + 1 from webhook_deliveries
          where business_id = ${businessId} and endpoint_id = ${endpointId}
            and event_id = ${attempt.event_id})`,
      })),
    )
    .returning(['event_id', 'attempt'])
    .execute()
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
