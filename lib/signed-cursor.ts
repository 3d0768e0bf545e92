import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto'
import { invalid as invalidField } from './domain-errors.js'

const FORMAT_VERSION = 1
const MAC_BYTES = 32
/** Longer than any cursor this module makes (a 255-character name of 4-byte characters). */
export const MAX_CURSOR_LENGTH = 2048

/**
 * The HMAC key for cursors, derived from one configured secret with a fixed label per kind of
 * list, so the cursor key is never the secret it comes from (e.g. the JWT secret).
 */
export function deriveCursorKey(secret: string, label: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, '', label, 32))
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
export function createCursorSeal(secrets: readonly string[], label: string): CursorSeal {
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

/** A cursor's fields: short names keep cursors short; nobody but the codec reads them. */
export type CursorFields = Record<string, string | number | boolean | null>

/** What one kind of cursor holds: the list it belongs to, and a position in it. */
export interface ScopedCursorSpec<Scope, Position> {
  /** HKDF label: one per kind of list, so one list's cursor is never another's. */
  label: string
  /** The business and list the cursor belongs to, as fields that must match exactly. */
  scopeFields(businessId: number, scope: Scope): CursorFields
  positionFields(position: Position): CursorFields
  /** The position the fields hold when it is sound for that list, else undefined. */
  readPosition(fields: Partial<Record<string, unknown>>, scope: Scope): Position | undefined
  /** What a cursor of another business or list is told. */
  foreign: string
}

export interface ScopedCursorCodec<Scope, Position> {
  /** A signed, opaque cursor for the page of `businessId`'s list that ended at `position`. */
  encode(businessId: number, scope: Scope, position: Position): string
  /** The position a cursor holds, if it is signed, of this business and list, and sound. */
  decode(text: string, businessId: number, scope: Scope): Position
}

const invalid = (message: string) => invalidField('after', message)
export const NOT_OURS = 'is not a cursor this service made (altered, or signed with a retired key)'

/** Keyset cursors bound to a business and a list, signed by {@link createCursorSeal}. */
export function createScopedCursorCodec<Scope, Position>(
  secrets: readonly string[],
  spec: ScopedCursorSpec<Scope, Position>,
): ScopedCursorCodec<Scope, Position> {
  const cursors = createCursorSeal(secrets, spec.label)

  function encode(businessId: number, scope: Scope, position: Position): string {
    return cursors.seal({
      ...spec.scopeFields(businessId, scope),
      ...spec.positionFields(position),
    })
  }

  function decode(text: string, businessId: number, scope: Scope): Position {
    const cursor = cursors.open(text) as Partial<Record<string, unknown>> | undefined
    if (!cursor) throw invalid(NOT_OURS)
    const expected = spec.scopeFields(businessId, scope)
    const belongs = Object.entries(expected).every(([name, value]) => cursor[name] === value)
    if (!belongs) throw invalid(spec.foreign)
    const position = spec.readPosition(cursor, scope)
    if (position === undefined) throw invalid('does not hold a position in this list')
    return position
  }

  return { encode, decode }
}

/** A positive integer JavaScript holds exactly (ids are bigint, read as numbers). */
export const isId = (value: unknown): value is number =>
  typeof value === 'number' && Number.isSafeInteger(value) && value > 0
