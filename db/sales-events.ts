import type { Executor } from './executor.js'

export async function recordOutcome(
  db: Executor,
  businessId: number,
  eventId: string,
  outcome: 'processed' | 'duplicate' | 'unattributed' | 'ignored',
): Promise<void> {
  await db
    .updateTable('sales_events')
    .set({ outcome })
    .where('business_id', '=', businessId)
    .where('event_id', '=', eventId)
    .execute()
}
