import { createScopedCursorCodec, isId, type ScopedCursorCodec } from './signed-cursor.js'

/** Where a page of one customer's changes ended: the id of its oldest change. */
export interface ChangesPosition {
  id: number
}

export type ChangesCursorCodec = ScopedCursorCodec<{ customerId: number }, ChangesPosition>

/** Cursors of a customer's change history, bound to the business and the customer. */
export function createChangesCursorCodec(secrets: readonly string[]): ChangesCursorCodec {
  return createScopedCursorCodec<{ customerId: number }, ChangesPosition>(secrets, {
    label: 'payme-customers changes-cursor hmac-sha256 v1',
    scopeFields: (businessId, scope) => ({ b: businessId, c: scope.customerId }),
    positionFields: (position) => ({ i: position.id }),
    readPosition: (fields) => (isId(fields.i) ? { id: fields.i } : undefined),
    foreign: 'belongs to another business or customer',
  })
}
