import { createScopedCursorCodec, isId, type ScopedCursorCodec } from './signed-cursor.js'

export { deriveCursorKey, MAX_CURSOR_LENGTH } from './signed-cursor.js'

/** The list a cursor belongs to: its ordering and filters. */
export interface ListScope {
  sortBy: 'created_at' | 'name' | 'id'
  sortOrder: 'asc' | 'desc'
  isActive: boolean
  customerType: string | null
}

/** Where a keyset page ended: the last row's sort key (as the database wrote it) and id. */
export interface ListPosition {
  key: string
  id: number
}

/** Fixed HKDF label of the customer list's cursors. */
export const LIST_CURSOR_LABEL = 'payme-customers list-cursor hmac-sha256 v1'

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
const isLeapYear = (year: number): boolean =>
  (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0

// As PostgreSQL writes timestamptz as text (`2026-01-01 10:00:00.123456+03`, `+05:30`).
const TIMESTAMP =
  /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?([+-])(\d{2})(?::(\d{2}))?$/

/**
 * A timestamp key read into its parts and checked on the calendar (month, day of that month,
 * hour, minute, second, offset within ±15:59, year 1–9999); written back in ISO form, so the
 * SQL only ever sees text rebuilt from checked numbers.
 */
export function parseTimestampKey(text: string): string | undefined {
  const match = TIMESTAMP.exec(text)
  if (!match) return undefined
  const [, y, mo, d, h, mi, s, fraction, sign, oh, om = '00'] = match
  const [year, month, day, hour, minute, second, offsetHours, offsetMinutes] = [
    y,
    mo,
    d,
    h,
    mi,
    s,
    oh,
    om,
  ].map(Number) as [number, number, number, number, number, number, number, number]
  if (year < 1 || year > 9999 || month < 1 || month > 12) return undefined
  const days = month === 2 && isLeapYear(year) ? 29 : (DAYS_IN_MONTH[month - 1] ?? 0)
  if (day < 1 || day > days || hour > 23 || minute > 59 || second > 59) return undefined
  if (offsetHours > 15 || offsetMinutes > 59) return undefined
  return `${y}-${mo}-${d}T${h}:${mi}:${s}${fraction ? `.${fraction}` : ''}${sign}${oh}:${om}`
}

// A lower-cased name: text without control characters or lone surrogates (none can be stored).
const NAME_KEY = /^[^\p{Cc}\p{Cs}]{1,1000}$/u

/** The position's key as a real value of the list's sort key, or undefined. */
function parseKey(sortBy: ListScope['sortBy'], key: unknown, id: number): string | undefined {
  if (typeof key !== 'string') return undefined
  if (sortBy === 'created_at') return parseTimestampKey(key)
  // Sorted by id, the key is the row's id itself.
  if (sortBy === 'id') return key === String(id) ? key : undefined
  return NAME_KEY.test(key) ? key : undefined
}

export type ListCursorCodec = ScopedCursorCodec<ListScope, ListPosition>

/** The customer list's cursors (`after` / `next_after`). */
export function createListCursorCodec(secrets: readonly string[]): ListCursorCodec {
  return createScopedCursorCodec<ListScope, ListPosition>(secrets, {
    label: LIST_CURSOR_LABEL,
    scopeFields: (businessId, scope) => ({
      b: businessId,
      s: scope.sortBy,
      o: scope.sortOrder,
      a: scope.isActive,
      t: scope.customerType,
    }),
    positionFields: (position) => ({ k: position.key, i: position.id }),
    readPosition(fields, scope) {
      const id = fields.i
      const key = isId(id) ? parseKey(scope.sortBy, fields.k, id) : undefined
      return isId(id) && key !== undefined ? { key, id } : undefined
    },
    foreign:
      'belongs to another business, or to a list with another sort_by, sort_order, filter_type or is_active',
  })
}
