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
 * The event's `data`, built from its snapshots (migrations 2026-12-04T2200, 2026-12-05T0500);
 * null for an event without them, which the readers refuse.
 */
const eventData = sql<Record<string, unknown> | null>`case
  when (customer_snapshot).id is not null
    then customer_event_json(customer_snapshot, preferences_snapshot, history_snapshot) end`

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
    .select([
      'id',
      'type',
      'business_id',
      'customer_id',
      'created_at',
      eventData.as('data'),
      'position',
    ])
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
 * Up to `limit` numbered events of the business after `position` of one of `types`, in feed
 * order, and the feed's last position: read in one statement, so when fewer than `limit` come
 * back, no other event of those types lies between the last of them and that end (a later
 * numbering only adds higher positions).
 */
export async function nextEventsOf(
  db: Executor,
  businessId: number,
  position: number,
  types: readonly EventType[],
  limit: number,
): Promise<{ events: EventRow[]; end: number }> {
  const { rows } = await sql<NullableEvent & { end: number }>`
    select e.id, e.type, e.business_id, e.customer_id, e.created_at, e.data, e.position,
      feed.end
    from (select ${feedEnd(businessId)} as "end") feed
      left join lateral (
        select id, type, business_id, customer_id, created_at, ${eventData} as data, position
        from customer_events
        where business_id = ${businessId} and position > ${position}
          and type = any(${types as EventType[]}::text[])
        order by position limit ${limit}) e on true
    order by e.position
  `.execute(db)
  const events = rows.flatMap((row) => {
    const { id, type, business_id, customer_id, created_at, data } = row
    const event = { id, type, business_id, customer_id, created_at, data, position: row.position }
    // No event: the one row that carries the feed's end.
    if (id === null) return []
    if (!isComplete(event)) throw new Error(`event ${id} numbered without its type or data`)
    return [event]
  })
  return { events, end: rows[0]?.end ?? position }
}

/** An event row as a left join gives it: every column null when there is none. */
type NullableEvent = { [Column in keyof EventRow]: EventRow[Column] | null }

function isComplete(event: NullableEvent): event is EventRow {
  return Object.values(event).every((value) => value !== null)
}

/** The last position numbered in the business's feed (0 before the first event). */
export function feedEnd(businessId: number): RawBuilder<number> {
  return sql<number>`(select coalesce(max(position), 0) from customer_events
    where business_id = ${businessId})`
}
