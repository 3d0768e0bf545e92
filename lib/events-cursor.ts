import { createScopedCursorCodec, type ScopedCursorCodec } from './signed-cursor.js'

/** A position in a business's event feed: after the event numbered `position` (0: the start). */
export interface EventsPosition {
  position: number
}

export const FEED_START: EventsPosition = { position: 0 }

export type EventsCursorCodec = ScopedCursorCodec<Record<string, never>, EventsPosition>

const isPosition = (value: unknown): value is number =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= 0

/** Cursors of the event feed, bound to the business. */
export function createEventsCursorCodec(secrets: readonly string[]): EventsCursorCodec {
  return createScopedCursorCodec<Record<string, never>, EventsPosition>(secrets, {
    label: 'payme-customers events-cursor hmac-sha256 v1',
    scopeFields: (businessId) => ({ b: businessId }),
    positionFields: ({ position }) => ({ p: position }),
    readPosition: (fields) => (isPosition(fields.p) ? { position: fields.p } : undefined),
    foreign: 'belongs to another business',
  })
}
