import { createScopedCursorCodec, isId, type ScopedCursorCodec } from './signed-cursor.js'

/** The list a duplicates cursor belongs to: the business's (customerId null) or one customer's. */
export interface DuplicatesScope {
  customerId: number | null
  minScore: number
}

/** The last pair of a page: its score as the database writes numeric(3,2), and its ids. */
export interface DuplicatesPosition {
  score: string
  lowId: number
  highId: number
}

const SCORE = /^(?:0\.\d{2}|1\.00)$/

export type DuplicatesCursorCodec = ScopedCursorCodec<DuplicatesScope, DuplicatesPosition>

/** Cursors of the duplicate candidates, signed like the customer list's with a key of their own. */
export function createDuplicatesCursorCodec(secrets: readonly string[]): DuplicatesCursorCodec {
  return createScopedCursorCodec<DuplicatesScope, DuplicatesPosition>(secrets, {
    label: 'payme-customers duplicates-cursor hmac-sha256 v1',
    scopeFields: (businessId, scope) => ({ b: businessId, c: scope.customerId, m: scope.minScore }),
    positionFields: (position) => ({ s: position.score, l: position.lowId, h: position.highId }),
    readPosition(fields, scope) {
      const { s: score, l: lowId, h: highId } = fields
      const sound =
        typeof score === 'string' &&
        SCORE.test(score) &&
        isId(lowId) &&
        isId(highId) &&
        lowId < highId &&
        (scope.customerId === null || lowId === scope.customerId || highId === scope.customerId)
      return sound ? { score, lowId, highId } : undefined
    },
    foreign:
      "belongs to another business, to another customer's or the business's list, or to another min_score",
  })
}
