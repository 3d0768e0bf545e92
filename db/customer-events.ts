import { sql, type RawBuilder } from 'kysely'
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

/** Up to `limit` numbered events of the business after `position` (of `types`), in feed order. */
export async function listEventsAfter(
  db: Executor,
  businessId: number,
  position: number,
  limit: number,
  types?: readonly EventType[],
): Promise<EventRow[]> {
  let query = db
    .selectFrom('customer_events')
    .select(['id', 'type', 'business_id', 'customer_id', 'created_at', 'data', 'position'])
    .where('business_id', '=', businessId)
    .where('position', '>', position)
  if (types) query = query.where('type', 'in', types)
  const rows = await query.orderBy('position').limit(limit).execute()
  return rows.map((row) => {
    if (row.type === null || row.data === null || row.position === null) {
      throw new Error(`event ${row.id} numbered without its type or data`)
    }
    return { ...row, type: row.type, data: row.data, position: row.position }
  })
}

/**
 * The first numbered event of the business after `position` of one of `types`, or, when there is
 * none, the feed's last position: read in one statement, so no event of those types lies between
 * `position` and that end (a later numbering only adds higher positions).
 */
export async function nextEventOf(
  db: Executor,
  businessId: number,
  position: number,
  types: readonly EventType[],
): Promise<{ event: EventRow } | { end: number }> {
  const { rows } = await sql<{ event: EventRow | null; end: number | null }>`
    select (select to_jsonb(e) from (
        select id, type, business_id, customer_id, created_at, data, position
        from customer_events
        where business_id = ${businessId} and position > ${position}
          and type = any(${types as EventType[]}::text[])
        order by position limit 1) e) as event,
      ${feedEnd(businessId)} as "end"
  `.execute(db)
  const row = rows[0]
  if (row?.event) {
    return { event: { ...row.event, created_at: new Date(row.event.created_at) } }
  }
  return { end: row?.end ?? position }
}

/** The last position numbered in the business's feed (0 before the first event). */
export function feedEnd(businessId: number): RawBuilder<number> {
  return sql<number>`(select coalesce(max(position), 0) from customer_events
    where business_id = ${businessId})`
}
