import { createHmac, randomBytes } from 'node:crypto'
import t, { type Test } from 'tap'
import { Invalid } from '../../lib/domain-errors.js'
import {
  createListCursorCodec,
  deriveCursorKey,
  LIST_CURSOR_LABEL,
  MAX_CURSOR_LENGTH,
  parseTimestampKey,
  type ListPosition,
  type ListScope,
} from '../../lib/list-cursor.js'

const SECRET = randomBytes(24).toString('base64url')
const codec = createListCursorCodec([SECRET])
const BUSINESS = 7
const SCOPE: ListScope = {
  sortBy: 'created_at',
  sortOrder: 'desc',
  isActive: true,
  customerType: null,
}
const POSITION: ListPosition = { key: '2026-01-01 10:00:00.123456+00', id: 42 }
const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

/** The one detail of the Invalid that `work` throws, else what happened instead. */
function refusal(
  work: () => unknown,
): { path: string; message: string } | 'accepted' | 'another error' {
  try {
    work()
    return 'accepted'
  } catch (error) {
    if (!(error instanceof Invalid) || error.details.length !== 1) return 'another error'
    return error.details[0]!
  }
}

function assertRefused(t: Test, work: () => unknown, name: string, message?: RegExp): void {
  const result = refusal(work)
  if (typeof result === 'string') {
    t.fail(`${name}: ${result}, expected a refusal on after`)
    return
  }
  t.equal(result.path, 'after', `${name}: refused, on after`)
  if (message) t.match(result.message, message, `${name}: says why`)
}

t.test('a cursor decodes to its position, for each sort key', async (t) => {
  const cases: { scope: ListScope; position: ListPosition; expected: ListPosition }[] = [
    {
      scope: SCOPE,
      position: POSITION,
      expected: { key: '2026-01-01T10:00:00.123456+00:00', id: 42 },
    },
    {
      scope: { ...SCOPE, sortOrder: 'asc', customerType: 'vip' },
      position: { key: '2024-02-29 23:59:59+05:30', id: 1 },
      expected: { key: '2024-02-29T23:59:59+05:30', id: 1 },
    },
    {
      scope: { ...SCOPE, sortBy: 'name', isActive: false },
      position: { key: 'wanjiru kamau — ünï', id: 9 },
      expected: { key: 'wanjiru kamau — ünï', id: 9 },
    },
    {
      scope: { ...SCOPE, sortBy: 'id' },
      position: { key: String(2 ** 53 - 1), id: 2 ** 53 - 1 },
      expected: { key: String(2 ** 53 - 1), id: 2 ** 53 - 1 },
    },
  ]
  for (const { scope, position, expected } of cases) {
    const text = codec.encode(BUSINESS, scope, position)
    t.match(text, /^[A-Za-z0-9_-]+$/, `${scope.sortBy}: base64url`)
    t.notOk(text.includes(position.key), `${scope.sortBy}: the key is not visible as text`)
    t.strictSame(codec.decode(text, BUSINESS, scope), expected, `${scope.sortBy}: decoded`)
  }
})

t.test('a 255-character name of non-ASCII letters gives a cursor within the limit', async (t) => {
  const position = { key: '😀'.repeat(255), id: 2 ** 53 - 1 }
  const scope: ListScope = { ...SCOPE, sortBy: 'name', customerType: 'wholesale' }
  const text = codec.encode(2 ** 53 - 1, scope, position)
  t.ok(text.length <= MAX_CURSOR_LENGTH, `${text.length} characters`)
  t.strictSame(codec.decode(text, 2 ** 53 - 1, scope), position)
})

t.test('any altered character is refused', async (t) => {
  const text = codec.encode(BUSINESS, SCOPE, POSITION)
  let cases = 0
  for (let index = 0; index < text.length; index += 1) {
    const at = BASE64URL.indexOf(text[index]!)
    // Neighbouring characters differ in the low bits, the far ones in the high bits.
    for (const step of [1, 32, 63]) {
      const altered = text.slice(0, index) + BASE64URL[(at + step) % 64] + text.slice(index + 1)
      const result = refusal(() => codec.decode(altered, BUSINESS, SCOPE))
      if (typeof result === 'string' || result.path !== 'after') {
        t.fail(`character ${index} + ${step}: ${JSON.stringify(result)}`)
      }
      cases += 1
    }
  }
  t.pass(`${cases} alterations of ${text.length} characters refused`)
})

t.test('any altered byte is refused', async (t) => {
  const bytes = Buffer.from(codec.encode(BUSINESS, SCOPE, POSITION), 'base64url')
  let cases = 0
  for (let index = 0; index < bytes.length; index += 1) {
    for (const mask of [0x01, 0x80, 0xff]) {
      const altered = Buffer.from(bytes)
      altered[index]! ^= mask
      const result = refusal(() => codec.decode(altered.toString('base64url'), BUSINESS, SCOPE))
      if (typeof result === 'string' || result.path !== 'after') {
        t.fail(`byte ${index} ^ ${mask}: ${JSON.stringify(result)}`)
      }
      cases += 1
    }
  }
  t.pass(`${cases} alterations of ${bytes.length} bytes refused`)
})

t.test('cut, extended, padded, or not a cursor at all: refused', async (t) => {
  const text = codec.encode(BUSINESS, SCOPE, POSITION)
  const cases: [string, string][] = [
    ['empty', ''],
    ['the last character cut', text.slice(0, -1)],
    ['the first character cut', text.slice(1)],
    ['a character added', `${text}A`],
    ['padded', `${text}==`],
    ['with a space', `${text.slice(0, 10)} ${text.slice(10)}`],
    ['a + in it (base64, not base64url)', `${text.slice(0, 5)}+${text.slice(6)}`],
    ['a / in it (base64, not base64url)', `${text.slice(0, 5)}/${text.slice(6)}`],
    ['twice', text + text],
    ['the MAC only', Buffer.from(text, 'base64url').subarray(0, 33).toString('base64url')],
    ['plain base64url JSON', Buffer.from(JSON.stringify(POSITION)).toString('base64url')],
    ['longer than any cursor', 'A'.repeat(MAX_CURSOR_LENGTH + 4)],
  ]
  for (const [name, altered] of cases) {
    assertRefused(t, () => codec.decode(altered, BUSINESS, SCOPE), name, /not a cursor/)
  }
})

t.test('a signed payload with a field changed keeps no valid signature', async (t) => {
  const bytes = Buffer.from(codec.encode(BUSINESS, SCOPE, POSITION), 'base64url')
  const header = bytes.subarray(0, 33)
  const payload = JSON.parse(bytes.subarray(33).toString('utf8')) as Record<string, unknown>
  t.strictSame(Object.keys(payload).sort(), ['a', 'b', 'i', 'k', 'o', 's', 't'], 'the fields')
  const changes: Record<string, unknown[]> = {
    b: [BUSINESS + 1, String(BUSINESS), null],
    s: ['name', 'id'],
    o: ['asc'],
    a: [false, 'true'],
    t: ['vip', ''],
    k: ['2026-01-01 10:00:00.123457+00', '2026-02-30 10:00:00+00'],
    i: [43, 41, '42'],
  }
  for (const [field, values] of Object.entries(changes)) {
    for (const value of values) {
      const changed = Buffer.from(JSON.stringify({ ...payload, [field]: value }))
      const text = Buffer.concat([header, changed]).toString('base64url')
      assertRefused(
        t,
        () => codec.decode(text, BUSINESS, SCOPE),
        `${field}=${JSON.stringify(value)}`,
        /not a cursor/,
      )
    }
  }
  const withoutId = { ...payload }
  delete withoutId.i
  const reshaped: [string, string][] = [
    ['a field removed', JSON.stringify(withoutId)],
    ['a field added', JSON.stringify({ ...payload, x: 1 })],
    ['the same fields with spaces', JSON.stringify(payload, null, 1)],
  ]
  for (const [name, serialised] of reshaped) {
    const text = Buffer.concat([header, Buffer.from(serialised)]).toString('base64url')
    assertRefused(t, () => codec.decode(text, BUSINESS, SCOPE), name, /not a cursor/)
  }
})

t.test('keys: another secret refuses; a rotation verifies with every secret', async (t) => {
  const old = createListCursorCodec([SECRET])
  const rotated = createListCursorCodec([randomBytes(24).toString('base64url'), SECRET])
  const other = createListCursorCodec([randomBytes(24).toString('base64url')])
  const made = old.encode(BUSINESS, SCOPE, POSITION)
  assertRefused(t, () => other.decode(made, BUSINESS, SCOPE), 'another secret', /not a cursor/)
  t.equal(rotated.decode(made, BUSINESS, SCOPE).id, 42, 'the old secret still verifies')
  const fresh = rotated.encode(BUSINESS, SCOPE, POSITION)
  t.not(fresh, made, 'the first secret signs')
  assertRefused(
    t,
    () => old.decode(fresh, BUSINESS, SCOPE),
    'signed by the new secret, checked without it',
    /not a cursor/,
  )
  t.throws(() => createListCursorCodec([]), /at least one secret/, 'no secret, no codec')
})

t.test('the key is derived from the secret, never the secret itself', async (t) => {
  const key = deriveCursorKey(SECRET, LIST_CURSOR_LABEL)
  t.equal(key.length, 32, '32 bytes')
  t.not(key.toString('hex'), Buffer.from(SECRET).toString('hex'), 'not the secret')
  t.not(
    key.toString('hex'),
    deriveCursorKey(`${SECRET}x`, LIST_CURSOR_LABEL).toString('hex'),
    'another secret, another key',
  )
  // The same cursor, but with its MAC made directly with the secret: refused.
  const bytes = Buffer.from(codec.encode(BUSINESS, SCOPE, POSITION), 'base64url')
  const payload = bytes.subarray(33)
  const signed = Buffer.concat([bytes.subarray(0, 1), payload])
  const rawMac = createHmac('sha256', SECRET).update(signed).digest()
  const text = Buffer.concat([bytes.subarray(0, 1), rawMac, payload]).toString('base64url')
  assertRefused(t, () => codec.decode(text, BUSINESS, SCOPE), 'MAC under the raw secret')
  const derivedMac = createHmac('sha256', key).update(signed).digest()
  t.equal(
    codec.decode(
      Buffer.concat([bytes.subarray(0, 1), derivedMac, payload]).toString('base64url'),
      BUSINESS,
      SCOPE,
    ).id,
    42,
    'the MAC under the derived key is the one that verifies',
  )
})

t.test('a cursor of another business or list is refused', async (t) => {
  const text = codec.encode(BUSINESS, SCOPE, POSITION)
  const cases: [string, number, ListScope][] = [
    ['another business', BUSINESS + 1, SCOPE],
    ['another sort_by', BUSINESS, { ...SCOPE, sortBy: 'name' }],
    ['another sort_order', BUSINESS, { ...SCOPE, sortOrder: 'asc' }],
    ['another is_active', BUSINESS, { ...SCOPE, isActive: false }],
    ['a filter_type added', BUSINESS, { ...SCOPE, customerType: 'vip' }],
  ]
  for (const [name, businessId, scope] of cases) {
    assertRefused(t, () => codec.decode(text, businessId, scope), name, /belongs to another/)
  }
  const filtered = codec.encode(BUSINESS, { ...SCOPE, customerType: 'vip' }, POSITION)
  assertRefused(
    t,
    () => codec.decode(filtered, BUSINESS, SCOPE),
    'a filter_type removed',
    /belongs to another/,
  )
  assertRefused(
    t,
    () => codec.decode(filtered, BUSINESS, { ...SCOPE, customerType: 'regular' }),
    'another filter_type',
    /belongs to another/,
  )
})

t.test('timestamp keys: real calendar values only', async (t) => {
  const good: [string, string][] = [
    ['2026-01-01 10:00:00+00', '2026-01-01T10:00:00+00:00'],
    ['2026-01-01 10:00:00.5+00', '2026-01-01T10:00:00.5+00:00'],
    ['2026-12-31 23:59:59.999999-03', '2026-12-31T23:59:59.999999-03:00'],
    ['2024-02-29 00:00:00+05:30', '2024-02-29T00:00:00+05:30'],
    ['2000-02-29 12:00:00+00', '2000-02-29T12:00:00+00:00'],
    ['0001-01-01 00:00:00+00', '0001-01-01T00:00:00+00:00'],
    ['9999-12-31 23:59:59+15:59', '9999-12-31T23:59:59+15:59'],
    ['2026-04-30 00:00:00-15:59', '2026-04-30T00:00:00-15:59'],
  ]
  for (const [text, expected] of good) t.equal(parseTimestampKey(text), expected, text)
  const bad = [
    '2026-02-30 10:00:00+00',
    '2026-13-45 25:61:61+00',
    '2026-01-01 10:00:00+99',
    '0000-01-01 00:00:00+00',
    '2026-00-10 10:00:00+00',
    '2026-01-00 10:00:00+00',
    '2026-04-31 10:00:00+00',
    '2023-02-29 10:00:00+00',
    '1900-02-29 10:00:00+00',
    '2026-01-01 24:00:00+00',
    '2026-01-01 23:60:00+00',
    '2026-01-01 23:59:60+00',
    '2026-01-01 10:00:00+16',
    '2026-01-01 10:00:00+15:60',
    '2026-01-01 10:00:00-16:00',
    '2026-01-01 10:00:00.1234567+00',
    '2026-01-01 10:00:00',
    '2026-01-01',
    '10000-01-01 00:00:00+00',
    '2026-01-01 10:00:00+00 BC',
    ' 2026-01-01 10:00:00+00',
    '2026-01-01 10:00:00+00\n',
    '２０２６-01-01 10:00:00+00',
    'infinity',
    'now',
    '',
  ]
  for (const text of bad) t.equal(parseTimestampKey(text), undefined, JSON.stringify(text))
})

t.test('correctly signed cursors whose position is not a real one are refused', async (t) => {
  const cases: [string, ListScope['sortBy'], unknown, unknown][] = [
    ['an impossible date', 'created_at', '2026-02-30 10:00:00+00', 1],
    ['impossible everything', 'created_at', '2026-13-45 25:61:61+00', 1],
    ['an offset of +99', 'created_at', '2026-01-01 10:00:00+99', 1],
    ['year 0000', 'created_at', '0000-01-01 00:00:00+00', 1],
    ['a number as a timestamp', 'created_at', 20260101, 1],
    ['no key', 'created_at', null, 1],
    ['an id of 0', 'id', '0', 0],
    ['a negative id', 'id', '-1', -1],
    ['a fractional id', 'id', '1.5', 1.5],
    ['an id past 2^53', 'id', String(2 ** 60), 2 ** 60],
    ['an id as text', 'id', '1', '1'],
    ['an id key that is not the id', 'id', '2', 1],
    ['an id key with a leading zero', 'id', '01', 1],
    ['an id key as a number', 'id', 1, 1],
    ['a name with NUL', 'name', 'ann\u0000', 1],
    ['a name with a newline', 'name', 'ann\nbob', 1],
    ['a name with DEL', 'name', 'ann\u007f', 1],
    ['a name with a lone surrogate', 'name', 'ann\ud800', 1],
    ['an empty name', 'name', '', 1],
    ['a name as an array', 'name', ['ann'], 1],
    ['a name with a fractional id', 'name', 'ann', 1.5],
    ['a name with no id', 'name', 'ann', undefined],
  ]
  for (const [name, sortBy, key, id] of cases) {
    const scope = { ...SCOPE, sortBy }
    const text = codec.encode(BUSINESS, scope, { key, id } as ListPosition)
    assertRefused(t, () => codec.decode(text, BUSINESS, scope), name, /not hold a position/)
  }
})
