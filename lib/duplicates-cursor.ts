import { invalid as invalidField } from './domain-errors.js'
import { createCursorSeal, NOT_OURS } from './list-cursor.js'

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

/** Short names keep cursors short; nobody but this module reads them. */
interface DuplicatesCursorPayload {
  b: number
  c: number | null
  m: number
  s: string
  l: number
  h: number
}

const KEY_LABEL = 'payme-customers duplicates-cursor hmac-sha256 v1'
const SCORE = /^(?:0\.\d{2}|1\.00)$/
const isId = (value: unknown): value is number =>
  typeof value === 'number' && Number.isSafeInteger(value) && value > 0
const invalid = (message: string) => invalidField('after', message)

export interface DuplicatesCursorCodec {
  encode(businessId: number, scope: DuplicatesScope, position: DuplicatesPosition): string
  /** The position a cursor holds, if it is signed, of this business, list and min_score. */
  decode(text: string, businessId: number, scope: DuplicatesScope): DuplicatesPosition
}

/** Cursors of the duplicate candidates, signed like the customer list's with a key of their own. */
export function createDuplicatesCursorCodec(secrets: readonly string[]): DuplicatesCursorCodec {
  const cursors = createCursorSeal(secrets, KEY_LABEL)

  function encode(businessId: number, scope: DuplicatesScope, position: DuplicatesPosition) {
    const payload: DuplicatesCursorPayload = {
      b: businessId,
      c: scope.customerId,
      m: scope.minScore,
      s: position.score,
      l: position.lowId,
      h: position.highId,
    }
    return cursors.seal(payload)
  }

  function decode(text: string, businessId: number, scope: DuplicatesScope): DuplicatesPosition {
    const cursor = cursors.open(text) as Partial<DuplicatesCursorPayload> | undefined
    if (!cursor) throw invalid(NOT_OURS)
    if (cursor.b !== businessId || cursor.c !== scope.customerId || cursor.m !== scope.minScore) {
      throw invalid(
        "belongs to another business, to another customer's or the business's list, or to another min_score",
      )
    }
    const { s: score, l: lowId, h: highId } = cursor
    const sound =
      typeof score === 'string' &&
      SCORE.test(score) &&
      isId(lowId) &&
      isId(highId) &&
      lowId < highId &&
      (scope.customerId === null || lowId === scope.customerId || highId === scope.customerId)
    if (!sound) throw invalid('does not hold a position in this list')
    return { score, lowId, highId }
  }

  return { encode, decode }
}
