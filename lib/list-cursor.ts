import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto'
import { invalid as invalidField } from './domain-errors.js'

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

/**
 * What a cursor carries, signed: the business and list it belongs to and the position.
 * Short names keep cursors short; nobody but this module reads them.
 */
interface CursorPayload {
  b: number
  s: ListScope['sortBy']
  o: ListScope['sortOrder']
  a: boolean
  t: string | null
  k: string
  i: number
}

const FORMAT_VERSION = 1
const MAC_BYTES = 32
/** Longer than any cursor this module makes (a 255-character name of 4-byte characters). */
export const MAX_CURSOR_LENGTH = 2048
/** Fixed HKDF label: the cursor key is never the secret it comes from (e.g. the JWT secret). */
const KEY_LABEL = 'payme-customers list-cursor hmac-sha256 v1'

/** The HMAC key for cursors, derived from one configured secret (one label per kind of list). */
export function deriveCursorKey(secret: string, label: string = KEY_LABEL): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, '', label, 32))
}

const invalid = (message: string) => invalidField('after', message)
export const NOT_OURS = 'is not a cursor this service made (altered, or signed with a retired key)'

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

/** A positive integer JavaScript holds exactly (ids are bigint, read as numbers). */
const isId = (value: unknown): value is number =>
  typeof value === 'number' && Number.isSafeInteger(value) && value > 0

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

export interface ListCursorCodec {
  /** A signed, opaque cursor for the page of `businessId`'s list that ended at `position`. */
  encode(businessId: number, scope: ListScope, position: ListPosition): string
  /** The position a cursor holds, if it is signed, of this business and list, and sound. */
  decode(text: string, businessId: number, scope: ListScope): ListPosition
}

/** Seals a payload into a signed, opaque cursor and opens one; open is undefined for a forgery. */
export interface CursorSeal {
  seal(payload: object): string
  open(text: string): unknown
}

/**
 * Cursors signed with HMAC-SHA256: base64url of version byte, MAC and the payload's JSON.
 * The first secret signs; every secret verifies (several during a rotation). Each kind of list
 * derives its keys with its own label, so one list's cursor is never another's.
 */
export function createCursorSeal(
  secrets: readonly string[],
  label: string = KEY_LABEL,
): CursorSeal {
  const keys = secrets.map((secret) => deriveCursorKey(secret, label))
  const [first] = keys
  if (!first) throw new Error('list cursors need at least one secret')
  const signingKey: Buffer = first
  const mac = (key: Buffer, signed: Buffer): Buffer =>
    createHmac('sha256', key).update(signed).digest()

  function seal(payload: object): string {
    const signed = Buffer.concat([Buffer.of(FORMAT_VERSION), Buffer.from(JSON.stringify(payload))])
    return Buffer.concat([
      signed.subarray(0, 1),
      mac(signingKey, signed),
      signed.subarray(1),
    ]).toString('base64url')
  }

  /** The payload bytes when the MAC is one of ours; compared in constant time with every key. */
  function verified(text: string): Buffer | undefined {
    if (text.length > MAX_CURSOR_LENGTH) return undefined
    const bytes = Buffer.from(text, 'base64url')
    // Only the one canonical spelling: no padding, no stray or ignored characters or bits.
    if (bytes.toString('base64url') !== text) return undefined
    if (bytes.length < 1 + MAC_BYTES + 2 || bytes[0] !== FORMAT_VERSION) return undefined
    const presented = bytes.subarray(1, 1 + MAC_BYTES)
    const payload = bytes.subarray(1 + MAC_BYTES)
    const signed = Buffer.concat([bytes.subarray(0, 1), payload])
    let matched = false
    for (const key of keys) {
      if (timingSafeEqual(mac(key, signed), presented)) matched = true
    }
    return matched ? payload : undefined
  }

  function open(text: string): unknown {
    const payload = verified(text)
    if (!payload) return undefined
    try {
      const parsed: unknown = JSON.parse(payload.toString('utf8'))
      return typeof parsed === 'object' && parsed !== null ? parsed : undefined
    } catch {
      return undefined
    }
  }

  return { seal, open }
}

/** The customer list's cursors (`after` / `next_after`). */
export function createListCursorCodec(secrets: readonly string[]): ListCursorCodec {
  const cursors = createCursorSeal(secrets)

  function encode(businessId: number, scope: ListScope, position: ListPosition): string {
    const payload: CursorPayload = {
      b: businessId,
      s: scope.sortBy,
      o: scope.sortOrder,
      a: scope.isActive,
      t: scope.customerType,
      k: position.key,
      i: position.id,
    }
    return cursors.seal(payload)
  }

  function decode(text: string, businessId: number, scope: ListScope): ListPosition {
    const cursor = cursors.open(text) as Partial<CursorPayload> | undefined
    if (!cursor) throw invalid(NOT_OURS)
    const belongs =
      cursor.b === businessId &&
      cursor.s === scope.sortBy &&
      cursor.o === scope.sortOrder &&
      cursor.a === scope.isActive &&
      cursor.t === scope.customerType
    if (!belongs) {
      throw invalid(
        'belongs to another business, or to a list with another sort_by, sort_order, filter_type or is_active',
      )
    }
    const id = cursor.i
    const key = isId(id) ? parseKey(scope.sortBy, cursor.k, id) : undefined
    if (!isId(id) || key === undefined) throw invalid('does not hold a position in this list')
    return { key, id }
  }

  return { encode, decode }
}
