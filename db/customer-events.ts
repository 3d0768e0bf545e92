import { sql } from 'kysely'
import type { EventType } from './database.js'
import type { Executor } from './executor.js'

export interface EventRow {
  id: number
  type: EventType
  business_id: number
  customer_id: number
  created_at: Date
  data: Record<string, unknown>
  position: number
}

/**
 * Numbers the business's events committed since the last numbering (customer_events_sequence,
 * migration 2026-12-03T1500): after this, every event committed before it has a position.
 */
export async function sequenceEvents(db: Executor, businessId: number): Promise<void> {
  await sql`select customer_events_sequence(${businessId}::bigint)`.execute(db)
}

/** Up to `limit` numbered events of the business after `position`, in feed order. */
export async function listEventsAfter(
  db: Executor,
  businessId: number,
  position: number,
  limit: number,
): Promise<EventRow[]> {
  const rows = await db
    .selectFrom('customer_events')
    .select(['id', 'type', 'business_id', 'customer_id', 'created_at', 'data', 'position'])
    .where('business_id', '=', businessId)
    .where('position', '>', position)
    .orderBy('position')
    .limit(limit)
    .execute()
  return rows.map((row) => {
    if (row.type === null || row.data === null || row.position === null) {
      throw new Error(`event ${row.id} numbered without its type or data`)
    }
    return { ...row, type: row.type, data: row.data, position: row.position }
  })
}
