import type { SaleEventType } from './database.js'
import type { Executor } from './executor.js'

/** Claims an event id; false when it was seen before (a redelivery). */
export async function claimEvent(
  db: Executor,
  event: { business_id: number; event_id: string; event_type: SaleEventType; sale_id: string },
): Promise<boolean> {
  const claimed = await db
    .insertInto('sales_events')
    .values({ ...event, outcome: 'processed' })
    .onConflict((conflict) => conflict.columns(['business_id', 'event_id']).doNothing())
    .returning('event_id')
    .executeTakeFirst()
  return claimed !== undefined
}

export async function recordOutcome(
  db: Executor,
  businessId: number,
  eventId: string,
  outcome: 'processed' | 'duplicate',
): Promise<void> {
  await db
    .updateTable('sales_events')
    .set({ outcome })
    .where('business_id', '=', businessId)
    .where('event_id', '=', eventId)
    .execute()
}
