import { listEventsAfter, sequenceEvents } from '../db/customer-events.js'
import type { Executor } from '../db/executor.js'
import type { EventsPage } from '../generated/schemas/EventsPage.js'
import { FEED_START, type EventsCursorCodec } from '../lib/events-cursor.js'
import { toEvent } from './representations.js'

/**
 * A page of the business's event feed after the cursor (from the start without one), and the
 * cursor to resume from: after the page's last event, or where the page began when it is empty.
 * The events committed by now are numbered first, so the page holds everything committed
 * before the request.
 */
export async function listEvents(
  db: Executor,
  businessId: number,
  query: { after?: string; limit?: number },
  cursors: EventsCursorCodec,
): Promise<EventsPage> {
  const after = query.after === undefined ? FEED_START : cursors.decode(query.after, businessId, {})
  await sequenceEvents(db, businessId)
  const rows = await listEventsAfter(db, businessId, after.position, query.limit ?? 100)
  const last = rows.at(-1)
  const next = last ? { position: last.position } : after
  return { events: rows.map(toEvent), next: cursors.encode(businessId, {}, next) }
}
