/**
 * Property-based fuzzing of every operation in openapi/openapi.yaml, with requests drawn from
 * the document's own schemas (read from the document, `$ref` by `$ref`):
 *
 * - valid requests (customers that exist in the business under test, values the schemas accept)
 *   get a documented 2xx whose body matches the document;
 * - invalid ones (wrong types, out of range, unknown or missing fields, huge strings, unicode,
 *   NUL bytes, malformed ids, bad credentials or signatures) get a documented 4xx in the error
 *   shape and change nothing; edge cases the validator lets through (leap seconds, year 0000,
 *   lone surrogates) may get a 2xx or a 4xx;
 * - nothing ever answers 5xx, and no request changes another business's rows.
 *
 * Replay a run with FUZZ_SEED=<the seed printed> FUZZ_RUNS=<the count printed>; FUZZ_RUNS sets
 * how many requests (2000 in CI, 500 in a plain `npm test`).
 */
import { createHmac } from 'node:crypto'
import { Ajv2020 } from 'ajv/dist/2020.js'
import type { ValidateFunction } from 'ajv'
import addFormats from 'ajv-formats'
import fc from 'fast-check'
import type { InjectOptions, LightMyRequestResponse } from 'fastify'
import { sql } from 'kysely'
import { parsePhoneNumberFromString } from 'libphonenumber-js/max'
import t, { type Test } from 'tap'
import { createListCursorCodec, type ListPosition, type ListScope } from '../../lib/list-cursor.js'
import { loadOpenApiDocument } from '../../lib/openapi-document.js'
import { BODY_TEXT_RULES, cleanText, QUERY_TEXT_RULES, type TextRule } from '../../lib/text.js'
import { nowSeconds, signatureHeader } from '../../lib/webhook-signature.js'
import { BODY_LIMIT_BYTES } from '../../server-options.js'
import { ContractValidator } from '../contract.js'
import {
  authFor,
  build,
  tokenFor,
  TEST_CURSOR_SECRET,
  TEST_JWT_SECRET,
  TEST_WEBHOOK_SECRET,
} from '../helper.js'
import { signedEvent, type SaleEventBody } from '../sales-feed.js'
import { runsFromEnvironment } from '../support/runs.js'
import { createCustomerId } from '../support/customers.js'
import { documentOperations } from '../support/openapi.js'

/** The business every request acts for, the one whose rows must never change, one never granted. */
const BUSINESS = 4101
const OTHER_BUSINESS = 4102
const UNGRANTED_BUSINESS = 4103

function integerFromEnvironment(name: string): number | undefined {
  const text = process.env[name]
  if (text === undefined || text === '') return undefined
  if (!/^-?\d+$/.test(text)) throw new Error(`${name} must be an integer, not ${text}`)
  return Number(text)
}

const SEED = integerFromEnvironment('FUZZ_SEED') ?? Date.now() % 2 ** 31
const TOTAL_REQUESTS = runsFromEnvironment('FUZZ_RUNS', { ci: 2000, local: 500 })

t.comment(
  `fuzz seed=${SEED} requests=${TOTAL_REQUESTS} (replay: FUZZ_SEED=${SEED} FUZZ_RUNS=${TOTAL_REQUESTS} npx tap test/fuzz/operations.fuzz.test.ts)`,
)

// ---------------------------------------------------------------------------------------------
// The document: schemas with every $ref resolved, and the operations.

interface Schema {
  $ref?: string
  type?: string | string[]
  enum?: unknown[]
  const?: unknown
  anyOf?: Schema[]
  oneOf?: Schema[]
  properties?: Record<string, Schema>
  required?: string[]
  additionalProperties?: boolean | Schema
  minProperties?: number
  items?: Schema
  minItems?: number
  maxItems?: number
  uniqueItems?: boolean
  minLength?: number
  maxLength?: number
  pattern?: string
  format?: string
  /** A string's content (favorite_products as JSON text): checked, as the document says. */
  contentMediaType?: string
  contentSchema?: Schema
  minimum?: number
  maximum?: number
  /** The component a resolved `$ref` pointed at (kept to pick semantic generators). */
  'x-ref'?: string
}

const document = loadOpenApiDocument()

function resolvePointer(ref: string): unknown {
  if (!ref.startsWith('#/')) throw new Error(`unsupported $ref ${ref}`)
  let node: unknown = document
  for (const raw of ref.slice(2).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~')
    node = (node as Record<string, unknown> | undefined)?.[key]
  }
  if (node === undefined) throw new Error(`dangling $ref ${ref}`)
  return node
}

function resolveObject<T>(node: unknown): T {
  const ref = (node as { $ref?: unknown }).$ref
  return (typeof ref === 'string' ? resolvePointer(ref) : node) as T
}

function resolveSchema(schema: Schema): Schema {
  if (schema.$ref) {
    const { $ref, ...siblings } = schema
    const name = $ref.split('/').at(-1) ?? $ref
    return { ...resolveSchema(resolvePointer($ref) as Schema), ...siblings, 'x-ref': name }
  }
  const resolved: Schema = { ...schema }
  if (schema.properties) {
    resolved.properties = Object.fromEntries(
      Object.entries(schema.properties).map(([name, child]) => [name, resolveSchema(child)]),
    )
  }
  if (schema.items) resolved.items = resolveSchema(schema.items)
  if (schema.contentSchema) resolved.contentSchema = resolveSchema(schema.contentSchema)
  if (schema.anyOf) resolved.anyOf = schema.anyOf.map(resolveSchema)
  if (schema.oneOf) resolved.oneOf = schema.oneOf.map(resolveSchema)
  return resolved
}

const typesOf = (schema: Schema): string[] =>
  schema.type === undefined ? [] : Array.isArray(schema.type) ? schema.type : [schema.type]

const allowsString = (schema: Schema): boolean =>
  typesOf(schema).includes('string') || (schema.anyOf ?? schema.oneOf ?? []).some(allowsString)

interface Parameter {
  name: string
  in: string
  required: boolean
  schema: Schema
}

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'

interface Operation {
  id: string
  method: Method
  path: string
  pathParams: Parameter[]
  query: Parameter[]
  body?: Schema
  /** Takes a `text/csv` file (an import) instead of JSON. */
  csv: boolean
  /** Every status the document gives for the operation. */
  documented: number[]
  success: number[]
  /** Needs a token (the document's security applies). */
  secured: boolean
  /** Signed with PayMe-Signature (the sales feed). */
  signed: boolean
}

interface OperationObject {
  operationId?: string
  parameters?: unknown[]
  requestBody?: unknown
  responses?: Record<string, unknown>
  security?: unknown[]
}

function operationsOf(): Operation[] {
  return documentOperations<OperationObject>(document).map(
    ({ path, upperMethod, operation, parameters: unresolved, security }): Operation => {
      const parameters = unresolved
        .map((node) => resolveObject<Parameter & { schema?: Schema }>(node))
        .map((parameter) => ({
          name: parameter.name,
          in: parameter.in,
          required: parameter.required === true,
          schema: resolveSchema(parameter.schema ?? {}),
        }))
      const content = operation.requestBody
        ? resolveObject<{ content?: Record<string, { schema?: Schema }> }>(operation.requestBody)
            .content
        : undefined
      const body = content?.['application/json']?.schema
      const documented = Object.keys(operation.responses ?? {}).map(Number)
      return {
        id: String(operation.operationId),
        method: upperMethod,
        path,
        pathParams: parameters.filter((parameter) => parameter.in === 'path'),
        query: parameters.filter((parameter) => parameter.in === 'query'),
        ...(body ? { body: resolveSchema(body) } : {}),
        csv: content?.['text/csv'] !== undefined,
        documented,
        success: documented.filter((status) => status >= 200 && status < 300),
        secured: security.length > 0,
        signed: parameters.some(
          (parameter) => parameter.in === 'header' && /^payme-signature$/i.test(parameter.name),
        ),
      }
    },
  )
}

const operations = operationsOf()

/**
 * Validators for the document's (resolved) schemas, as a client reading the document would use.
 * JSON Schema makes `contentSchema` an annotation; the document means it (a string holding JSON
 * that must match), so here it is asserted.
 */
const ajv = new Ajv2020({ strict: false, allErrors: false })
addFormats.default(ajv)
ajv.removeKeyword('contentSchema')
ajv.addKeyword({
  keyword: 'contentSchema',
  schemaType: 'object',
  compile(contentSchema: Schema, parent: object) {
    const { contentMediaType } = parent as Schema
    if (contentMediaType !== 'application/json') {
      throw new Error(`no check for content ${String(contentMediaType)}`)
    }
    const validateContent = ajv.compile(contentSchema)
    return (data: unknown): boolean => {
      if (typeof data !== 'string') return true
      try {
        return validateContent(JSON.parse(data)) === true
      } catch {
        return false
      }
    }
  },
})
const validators = new WeakMap<Schema, ValidateFunction>()
function accepts(schema: Schema, value: unknown): boolean {
  let validate = validators.get(schema)
  if (!validate) {
    validate = ajv.compile(schema)
    validators.set(schema, validate)
  }
  return validate(value)
}

// ---------------------------------------------------------------------------------------------
// Requests.

type Place = 'bearer' | 'cookie' | 'none'

type Body =
  | { kind: 'none' }
  | { kind: 'json'; value: unknown }
  | { kind: 'raw'; text: string; contentType?: string }

type Signature =
  | { kind: 'valid' }
  | { kind: 'none' }
  | { kind: 'literal'; header: string }
  /** Signed, but with another secret, another clock or over other bytes. */
  | { kind: 'signed'; secret: string; skewSeconds: number; signedSuffix: string }

interface RequestSpec {
  path: Record<string, string>
  query: [string, string][]
  auth: { place: Place; token: string }
  body: Body
  signature: Signature
  trailingSlash: boolean
  /** listCustomers: page with a real `after` cursor. */
  wantCursor: boolean
  /** Sales feed: deliver an earlier event again. */
  redeliver: boolean
}

const truncate = (text: string, length: number): string =>
  text.length <= length ? text : `${text.slice(0, length)}…(${text.length} chars)`

function urlOf(operation: Operation, spec: RequestSpec): string {
  let path = operation.path.replace(
    /\{([^}]+)\}/g,
    (_match, name: string) => spec.path[name] ?? `{${name}}`,
  )
  if (spec.trailingSlash) path += '/'
  const query = spec.query
    .map(([name, value]) => `${encodeURIComponent(name)}=${encodeURIComponent(value)}`)
    .join('&')
  return query ? `${path}?${query}` : path
}

function payloadOf(body: Body): string | undefined {
  if (body.kind === 'json') return JSON.stringify(body.value)
  if (body.kind === 'raw') return body.text
  return undefined
}

function signatureOf(signature: Signature, payload: string): string | undefined {
  switch (signature.kind) {
    case 'valid':
      return signatureHeader(TEST_WEBHOOK_SECRET, payload)
    case 'none':
      return undefined
    case 'literal':
      return signature.header
    case 'signed':
      return signatureHeader(
        signature.secret,
        payload + signature.signedSuffix,
        nowSeconds() + signature.skewSeconds,
      )
  }
}

function injectOptions(operation: Operation, spec: RequestSpec): InjectOptions {
  const url = urlOf(operation, spec)
  if (operation.signed && spec.signature.kind === 'valid' && spec.body.kind === 'json') {
    // A well-formed event, signed the way the sales service signs.
    return { ...signedEvent(spec.body.value as SaleEventBody), method: operation.method, url }
  }
  const headers: Record<string, string> = {}
  if (spec.auth.place === 'bearer') headers.authorization = `Bearer ${spec.auth.token}`
  if (spec.auth.place === 'cookie') headers.cookie = `token=${spec.auth.token}`
  const payload = payloadOf(spec.body)
  if (spec.body.kind === 'json') headers['content-type'] = 'application/json'
  if (spec.body.kind === 'raw' && spec.body.contentType !== undefined) {
    headers['content-type'] = spec.body.contentType
  }
  if (operation.signed) {
    const signature = signatureOf(spec.signature, payload ?? '')
    if (signature !== undefined) headers['payme-signature'] = signature
  }
  return { method: operation.method, url, headers, ...(payload === undefined ? {} : { payload }) }
}

function describe(operation: Operation, spec: RequestSpec): string {
  const payload = payloadOf(spec.body)
  const auth = spec.auth.place === 'none' ? 'no token' : `token in ${spec.auth.place}`
  return [
    `${operation.method} ${truncate(urlOf(operation, spec), 300)}`,
    operation.secured ? auth : `signature ${spec.signature.kind}`,
    payload === undefined ? 'no body' : `body ${truncate(JSON.stringify(payload), 400)}`,
  ].join(', ')
}

// ---------------------------------------------------------------------------------------------
// The app, the two businesses, and the checks.

// The limits stay far above this file's traffic whatever the helper's defaults become.
const server = await build(t, {
  config: { rateLimitMax: 1_000_000_000, rateLimitWebhookMax: 1_000_000_000 },
})
const { db } = server.database
const contract = new ContractValidator(document)

const TOKEN_BUSINESS = tokenFor({ sub: 7, businesses: [BUSINESS] })
const TOKEN_BOTH = tokenFor({ sub: 7, businesses: [BUSINESS, OTHER_BUSINESS] })
const TOKEN_OTHER = tokenFor({ sub: 7, businesses: [OTHER_BUSINESS] })
const TOKEN_FORGED = tokenFor({ sub: 7, businesses: [BUSINESS] }, 'x'.repeat(48))
/** Signed by hand: the helper's signer always sets its own `exp`. */
function hs256(claims: Record<string, unknown>): string {
  const part = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')
  const input = `${part({ alg: 'HS256', typ: 'JWT' })}.${part(claims)}`
  return `${input}.${createHmac('sha256', TEST_JWT_SECRET).update(input).digest('base64url')}`
}
const TOKEN_EXPIRED = hs256({ sub: 7, businesses: [BUSINESS], exp: nowSeconds() - 60 })

let requests = 0

async function send(operation: Operation, spec: RequestSpec): Promise<LightMyRequestResponse> {
  requests += 1
  return server.inject(injectOptions(operation, spec))
}

async function setupRequest(options: InjectOptions, expected: number): Promise<unknown> {
  const response = await server.inject(options)
  if (response.statusCode !== expected) {
    throw new Error(
      `setup ${options.method} ${options.url}: ${response.statusCode} ${response.body}`,
    )
  }
  return response.json()
}

async function seedBusiness(businessId: number, names: string[]): Promise<number[]> {
  const ids: number[] = []
  for (const [index, name] of names.entries()) {
    const id = await createCustomerId(server.inject, businessId, {
      name,
      phone: `07${String(12_345_600 + index).padStart(8, '0')}`,
      email: `customer${index}@business${businessId}.co.ke`,
      address: `Shop ${index}, Moi Avenue`,
    })
    ids.push(id)
    await setupRequest(
      {
        method: 'POST',
        url: `/api/customers/${businessId}/${id}/notes`,
        headers: authFor(businessId),
        payload: { content: `Seed note for ${name}`, note_type: 'preference' },
      },
      201,
    )
    await setupRequest(
      {
        method: 'PATCH',
        url: `/api/customers/${businessId}/${id}/preferences`,
        headers: authFor(businessId),
        payload: { favorite_products: [index + 1, 42], preferred_payment: 'mpesa' },
      },
      200,
    )
    const sale = (type: SaleEventBody['type'], data: Record<string, unknown>): SaleEventBody => ({
      id: `seed-${businessId}-${id}-${type}`,
      type,
      created_at: '2026-11-26T09:59:01Z',
      data: {
        sale_id: `SEED-${businessId}-${id}`,
        business_id: businessId,
        customer_id: id,
        ...data,
      },
    })
    await setupRequest(
      signedEvent(
        sale('sale.completed', {
          total_amount: '10.00',
          items_count: 2,
          payment_method: 'cash',
          completed_at: '2026-11-20T10:00:00Z',
        }),
      ),
      200,
    )
    if (index % 2 === 1) {
      await setupRequest(signedEvent(sale('sale.refunded', { refund_amount: '2.50' })), 200)
    }
  }
  return ids
}

const customers = await seedBusiness(BUSINESS, [
  'Wanjiru Kamau',
  'Otieno Ouma',
  "Njeri O'Connor",
  'Achieng 100% Cotton',
  'Mũthoni wa Kĩrĩna',
  'Kiprop_Underscore',
])
const otherCustomers = await seedBusiness(OTHER_BUSINESS, [
  'Wanjiru Other',
  'Otieno Other',
  'Secret Customer',
  'Hidden Wholesale',
])
const SEED_SALE = `SEED-${BUSINESS}-${customers[0]!}`

/** Every row of a business, as Kysely reads them, for comparison before and after. */
async function businessRows(businessId: number): Promise<unknown> {
  const rows = {
    businesses: await db
      .selectFrom('businesses')
      .selectAll()
      .where('id', '=', businessId)
      .execute(),
    customers: await db
      .selectFrom('customers')
      .selectAll()
      .where('business_id', '=', businessId)
      .orderBy('id')
      .execute(),
    notes: await db
      .selectFrom('customer_notes')
      .selectAll()
      .where('business_id', '=', businessId)
      .orderBy('id')
      .execute(),
    preferences: await db
      .selectFrom('customer_preferences')
      .selectAll()
      .where('business_id', '=', businessId)
      .orderBy('id')
      .execute(),
    purchaseHistory: await db
      .selectFrom('customer_purchase_history')
      .selectAll()
      .where('business_id', '=', businessId)
      .orderBy('id')
      .execute(),
    sales: await db
      .selectFrom('customer_sales')
      .selectAll()
      .where('business_id', '=', businessId)
      .orderBy('sale_id')
      .execute(),
    salesEvents: await db
      .selectFrom('sales_events')
      .selectAll()
      .where('business_id', '=', businessId)
      .orderBy('event_id')
      .execute(),
    consents: await db
      .selectFrom('customer_consents')
      .selectAll()
      .where('business_id', '=', businessId)
      .orderBy('id')
      .execute(),
    counts: await db
      .selectFrom('customer_counts')
      .selectAll()
      .where('business_id', '=', businessId)
      .orderBy('slot')
      .orderBy('customer_type')
      .orderBy('is_active')
      .execute(),
  }
  return JSON.parse(JSON.stringify(rows)) as unknown
}

const otherBusinessBefore = await businessRows(OTHER_BUSINESS)

/** A digest of every row of the business under test: equal before and after a refused request. */
async function fingerprint(): Promise<string> {
  const result = await sql<{ digest: string }>`
    select md5(concat_ws('|',
      (select string_agg(r::text, ',' order by r.id) from customers r where r.business_id = ${BUSINESS}),
      (select string_agg(r::text, ',' order by r.id) from customer_notes r where r.business_id = ${BUSINESS}),
      (select string_agg(r::text, ',' order by r.id) from customer_preferences r where r.business_id = ${BUSINESS}),
      (select string_agg(r::text, ',' order by r.id) from customer_purchase_history r where r.business_id = ${BUSINESS}),
      (select string_agg(r::text, ',' order by r.id) from customer_consents r where r.business_id = ${BUSINESS}),
      (select string_agg(r::text, ',' order by r.sale_id) from customer_sales r where r.business_id = ${BUSINESS}),
      (select string_agg(r::text, ',' order by r.event_id) from sales_events r where r.business_id = ${BUSINESS}),
      (select string_agg(r::text, ',' order by r.slot, r.customer_type, r.is_active) from customer_counts r where r.business_id = ${BUSINESS})
    )) as digest`.execute(db)
  return result.rows[0]?.digest ?? ''
}

type Expectation =
  | { kind: 'success' }
  | { kind: 'refused'; statuses: readonly number[] }
  /** An edge case the validator lets through: any documented answer but a 5xx. */
  | { kind: 'no-5xx' }

function jsonOf(response: LightMyRequestResponse): unknown {
  if (!String(response.headers['content-type'] ?? '').startsWith('application/json')) {
    return undefined
  }
  try {
    return response.json()
  } catch {
    return undefined
  }
}

/** Values of `business_id` anywhere in a body. */
function businessIdsIn(value: unknown): unknown[] {
  if (Array.isArray(value)) return value.flatMap(businessIdsIn)
  if (typeof value !== 'object' || value === null) return []
  return Object.entries(value).flatMap(([key, child]) =>
    key === 'business_id' ? [child] : businessIdsIn(child),
  )
}

function problemsWith(
  operation: Operation,
  response: LightMyRequestResponse,
  expectation: Expectation,
): string[] {
  const problems: string[] = []
  const status = response.statusCode
  if (status >= 500) problems.push(`answered ${status}: no request may get a 5xx`)
  if (!operation.documented.includes(status)) problems.push(`${status} is not documented`)
  const requestId = response.headers['x-request-id']
  if (typeof requestId !== 'string' || requestId === '') problems.push('no x-request-id header')
  const body = jsonOf(response)
  if (body !== undefined)
    problems.push(...contract.check(operation.method, operation.path, status, body))
  if (expectation.kind === 'success') {
    if (!operation.success.includes(status)) {
      problems.push(`a valid request must get ${operation.success.join(' or ')}`)
    }
    // Only the API carries tenant data (the document's own examples name business 5).
    const foreign = operation.secured ? businessIdsIn(body).filter((id) => id !== BUSINESS) : []
    if (foreign.length > 0) problems.push(`answered with rows of business ${String(foreign[0])}`)
  }
  if (expectation.kind === 'refused' && !expectation.statuses.includes(status)) {
    problems.push(`expected ${expectation.statuses.join(' or ')}`)
  }
  if (expectation.kind !== 'success' && status >= 400) {
    const error = body as { error?: unknown; request_id?: unknown } | undefined
    if (typeof error?.error !== 'string') problems.push('the error body has no `error` title')
    if (error?.request_id !== requestId) problems.push('`request_id` is not the x-request-id')
  }
  return problems
}

function failure(
  operation: Operation,
  spec: RequestSpec,
  response: LightMyRequestResponse,
  problems: string[],
  label: string,
): Error {
  return new Error(
    [
      `${operation.id} — ${label}: ${problems.join('; ')}`,
      `  request: ${describe(operation, spec)}`,
      `  response: ${response.statusCode} ${truncate(response.body, 500)}`,
    ].join('\n'),
  )
}

// ---------------------------------------------------------------------------------------------
// Valid values, drawn from the schemas. Where a schema cannot say what the service needs (a phone
// number that parses, a refund that fits), a semantic generator for that field or component
// stands in; its output is still checked against the document before it is sent.

const NON_SPACE = [
  ...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789',
  ...`'"\\%_;-$(){}[]<>*?!@#&|/.,:=+~^\``,
  'é',
  'ñ',
  'ü',
  'ß',
  'Ω',
  'д',
  'ك',
  '中',
  '文',
  'ひ',
  '😀',
  '🇰🇪',
  '\u200b',
]
const visibleUnit = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...NON_SPACE.filter((c) => [...c].length === 1)) },
  {
    weight: 1,
    arbitrary: fc.integer({ min: 0xa1, max: 0x167f }).map((c) => String.fromCodePoint(c)),
  },
  {
    weight: 1,
    arbitrary: fc.integer({ min: 0x1f300, max: 0x1faff }).map((c) => String.fromCodePoint(c)),
  },
)
/** One code point per unit (JSON Schema's maxLength counts code points); never NUL. */
const textUnit = fc.oneof(
  { weight: 12, arbitrary: visibleUnit },
  { weight: 2, arbitrary: fc.constant(' ') },
  { weight: 1, arbitrary: fc.constantFrom('\t', '\n', '\u0001', '\u001f', '\u00a0', '\u2028') },
)

/**
 * The service keeps enough of the text and it still fits (lib/text.ts): a name of only U+200B is
 * empty once cleaned, and NFC may lengthen (U+0958 → U+0915 U+093C).
 */
const keeps = (text: string, least: number, maxLength: number): boolean =>
  [...cleanText(text, 'name')].length >= least && [...cleanText(text, 'plain')].length <= maxLength

function textArbitrary(minLength: number, maxLength: number): fc.Arbitrary<string> {
  const least = Math.max(1, minLength)
  const short = fc.string({ unit: textUnit, minLength: least, maxLength: Math.min(maxLength, 40) })
  const full = fc.string({ unit: visibleUnit, minLength: maxLength, maxLength })
  return fc
    .oneof({ weight: 12, arbitrary: short }, { weight: 1, arbitrary: full })
    .filter((text) => keeps(text, least, maxLength))
}

const instant = fc.date({
  min: new Date('1970-01-01T00:00:00.000Z'),
  max: new Date('2100-12-31T23:59:59.999Z'),
  noInvalidDate: true,
})
const dateArbitrary = instant.map((date) => date.toISOString().slice(0, 10))
/** RFC 3339 date-times in their legal spellings: offsets, `t`/space separators, fractions. */
const dateTimeArbitrary = fc
  .record({
    date: instant,
    offsetMinutes: fc.constantFrom(0, 0, 180, -330, 840, -720, 45),
    separator: fc.constantFrom('T', 'T', 't', ' '),
    zulu: fc.constantFrom('Z', 'z', '+00:00'),
    fraction: fc.constantFrom('', '.000', '.5', '.123456'),
  })
  .map(({ date, offsetMinutes, separator, zulu, fraction }) => {
    const local = new Date(date.getTime() + offsetMinutes * 60_000).toISOString()
    const sign = offsetMinutes < 0 ? '-' : '+'
    const magnitude = Math.abs(offsetMinutes)
    const offset =
      offsetMinutes === 0
        ? zulu
        : `${sign}${String(Math.floor(magnitude / 60)).padStart(2, '0')}:${String(magnitude % 60).padStart(2, '0')}`
    return `${local.slice(0, 10)}${separator}${local.slice(11, 19)}${fraction}${offset}`
  })

const LOCAL_CHARS = [
  ...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789',
  ...`!#$%&'*+/=?^_\`{|}~-`,
]
const LABEL_CHARS = [...'abcdefghijklmnopqrstuvwxyz0123456789']
function emailArbitrary(maxLength: number): fc.Arbitrary<string> {
  const atom = fc.string({ unit: fc.constantFrom(...LOCAL_CHARS), minLength: 1, maxLength: 10 })
  const label = fc.string({ unit: fc.constantFrom(...LABEL_CHARS), minLength: 1, maxLength: 12 })
  return fc
    .tuple(
      fc.array(atom, { minLength: 1, maxLength: 3 }),
      fc.array(label, { minLength: 1, maxLength: 3 }),
      fc.constantFrom('co.ke', 'ke', 'com', 'org', 'AFRICA'),
    )
    .map(([local, domain, tld]) => `${local.join('.')}@${domain.join('.')}.${tld}`)
    .filter((email) => email.length <= maxLength)
}

/** Kenyan mobile numbers in the ways people write them. */
const phoneArbitrary = fc
  .tuple(
    fc.constantFrom('70', '71', '72', '74', '79', '11'),
    fc.integer({ min: 0, max: 9_999_999 }),
    fc.constantFrom('0N', '+254N', '254N', '+254 A B C', '0A B C', '0A-B-C', ' 0N '),
  )
  .map(([prefix, rest, shape]) => {
    const national = `${prefix}${String(rest).padStart(7, '0')}`
    return shape
      .replace('N', national)
      .replace('A', national.slice(0, 3))
      .replace('B', national.slice(3, 6))
      .replace('C', national.slice(6))
  })
  .filter(
    (phone) => phone.length <= 20 && parsePhoneNumberFromString(phone, 'KE')?.isValid() === true,
  )

/** Amounts the sales feed accepts and a customer's totals can hold (numeric 12,2). */
const moneyArbitrary = fc
  .tuple(fc.integer({ min: 0, max: 10_000_000 }), fc.constantFrom('string', 'number'))
  .map(([cents, form]) =>
    form === 'number'
      ? cents / 100
      : `${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, '0')}`,
  )
const quantityArbitrary = fc
  .tuple(fc.integer({ min: 0, max: 1_000_000 }), fc.constantFrom('string', 'number'))
  .map(([thousandths, form]) =>
    form === 'number'
      ? thousandths / 1000
      : `${Math.floor(thousandths / 1000)}.${String(thousandths % 1000).padStart(3, '0')}`,
  )

function integerArbitrary(minimum = -(2 ** 31), maximum = 2 ** 31 - 1): fc.Arbitrary<number> {
  const near = fc.integer({ min: minimum, max: Math.min(maximum, minimum + 200) })
  const wide = fc.bigInt({ min: BigInt(minimum), max: BigInt(maximum) }).map(Number)
  return fc.oneof(
    { weight: 1, arbitrary: fc.constantFrom(minimum, maximum) },
    { weight: 4, arbitrary: near },
    { weight: 2, arbitrary: wide },
  )
}

type Generator = (schema: Schema) => fc.Arbitrary<unknown>
interface Generators {
  /** By dotted field path (`phone`, `data.customer_id`) or query parameter name. */
  byPath: Record<string, Generator>
  /** By the component a `$ref` named. */
  byComponent: Record<string, Generator>
}

const nullable = (schema: Schema, arbitrary: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> =>
  typesOf(schema).includes('null') ? fc.oneof(arbitrary, fc.constant(null)) : arbitrary

function valueArbitrary(
  schema: Schema,
  path: string[],
  generators: Generators,
): fc.Arbitrary<unknown> {
  const special =
    generators.byPath[path.join('.')] ??
    (schema['x-ref'] ? generators.byComponent[schema['x-ref']] : undefined)
  if (special) return special(schema)
  if (schema.const !== undefined) return fc.constant(schema.const)
  if (schema.enum) return fc.constantFrom(...schema.enum)
  const branches = schema.anyOf ?? schema.oneOf
  if (branches)
    return fc.oneof(...branches.map((branch) => valueArbitrary(branch, path, generators)))
  const types = typesOf(schema)
  if (types.length !== 1) {
    if (types.length === 0) throw new Error(`no type for ${path.join('.') || 'the body'}`)
    return fc.oneof(...types.map((type) => valueArbitrary({ ...schema, type }, path, generators)))
  }
  switch (types[0]) {
    case 'null':
      return fc.constant(null)
    case 'boolean':
      return fc.boolean()
    case 'integer':
      return integerArbitrary(schema.minimum, schema.maximum)
    case 'number':
      return integerArbitrary(
        Math.ceil((schema.minimum ?? 0) * 100),
        Math.floor((schema.maximum ?? 1e6) * 100),
      ).map((cents) => cents / 100)
    case 'string':
      return stringArbitrary(schema)
    case 'array': {
      const items = valueArbitrary(schema.items ?? {}, [...path, '*'], generators)
      const most = schema.maxItems ?? 10
      // uniqueItems (a webhook endpoint's event types): no two items alike.
      const array = (minLength: number, maxLength: number) =>
        schema.uniqueItems
          ? fc.uniqueArray(items, {
              minLength,
              maxLength,
              selector: (item) => JSON.stringify(item),
            })
          : fc.array(items, { minLength, maxLength })
      return fc.oneof(
        { weight: 9, arbitrary: array(schema.minItems ?? 0, Math.min(most, 10)) },
        { weight: 1, arbitrary: array(most, most) },
      )
    }
    case 'object': {
      const model = Object.fromEntries(
        Object.entries(schema.properties ?? {}).map(([name, child]) => [
          name,
          valueArbitrary(child, [...path, name], generators),
        ]),
      )
      return fc
        .record(model, { requiredKeys: schema.required ?? [] })
        .filter((value) => Object.keys(value).length >= (schema.minProperties ?? 0))
    }
    default:
      throw new Error(`no generator for type ${String(types[0])}`)
  }
}

function stringArbitrary(schema: Schema): fc.Arbitrary<string> {
  const maxLength = schema.maxLength ?? 200
  // The Blank schema: an empty string, whose meaning (left out, or cleared) the document gives.
  if (maxLength === 0) return fc.constant('')
  switch (schema.format) {
    case 'email':
      return emailArbitrary(maxLength)
    case 'date':
      return dateArbitrary
    case 'date-time':
      return dateTimeArbitrary
    case undefined:
      break
    default:
      throw new Error(`no generator for format ${schema.format}`)
  }
  if (schema.pattern) {
    return fc
      .stringMatching(new RegExp(schema.pattern))
      .filter(
        (text) => [...text].length <= maxLength && [...text].length >= (schema.minLength ?? 0),
      )
  }
  return textArbitrary(schema.minLength ?? 0, maxLength)
}

function arrayBranch(schema: Schema): Schema {
  const branch = (schema.anyOf ?? []).find((candidate) => typesOf(candidate).includes('array'))
  if (!branch) throw new Error('favorite_products has no array form in the document')
  return branch
}

const generators: Generators = {
  byPath: {
    phone: (schema) => nullable(schema, phoneArbitrary),
    // An M-Pesa payer's number: any format, but a number.
    'data.payer.phone': () => phoneArbitrary,
    // The document allows an array of ids or a string holding one in JSON.
    favorite_products: (schema) => {
      const ids = valueArbitrary(arrayBranch(schema), ['favorite_products[]'], generators)
      return fc.oneof(
        ids,
        ids.map((value) => JSON.stringify(value)),
      )
    },
    // A webhook endpoint's URL: an absolute http(s) URL without credentials (the policy outside
    // production); what the schema alone allows is mostly refused by the service.
    url: (schema) =>
      fc
        .webUrl({ validSchemes: ['http', 'https'], withQueryParameters: true, withFragments: true })
        .filter((url) => url.length <= (schema.maxLength ?? 2048) && URL.canParse(url)),
    // The sales feed acts for the business under test, on its customers or a walk-in.
    'data.business_id': () => fc.constant(BUSINESS),
    'data.customer_id': () =>
      fc.oneof(
        { weight: 8, arbitrary: fc.constantFrom(...customers) },
        { weight: 1, arbitrary: fc.constant(null) },
      ),
  },
  byComponent: {
    Email: (schema) => emailArbitrary(schema.maxLength ?? 255),
    MoneyInput: () => moneyArbitrary,
    QuantityInput: () => quantityArbitrary,
  },
}

// ---------------------------------------------------------------------------------------------
// Valid requests.

/** Query parameters whose valid values come from the service (a cursor of a real page). */
const FROM_SERVICE = new Set(['after'])

const csvCell = (text: string): string => `"${text.replaceAll('"', '""')}"`

/**
 * An import's file: the header, then rows of any text (quoted, so commas, quotes and line
 * breaks are cells); a row may be rejected, the upload is still accepted.
 */
const csvFileArbitrary: fc.Arbitrary<Body> = fc
  .array(fc.tuple(fc.string({ maxLength: 40 }), fc.option(phoneArbitrary, { nil: '' })), {
    maxLength: 5,
  })
  .map((rows) => ({
    kind: 'raw',
    contentType: 'text/csv',
    text: ['name,phone', ...rows.map((cells) => cells.map(csvCell).join(','))].join('\r\n'),
  }))

function pathValue(parameter: Parameter): fc.Arbitrary<string> {
  if (parameter.name === 'businessId') return fc.constant(String(BUSINESS))
  if (parameter.name === 'customerId') return fc.constantFrom(...customers.map(String))
  // Placeholders: prepare() makes the merge a valid undo needs, the import a read needs, and
  // the webhook endpoint its operations need.
  if (['mergeId', 'importId', 'endpointId'].includes(parameter.name)) return fc.constant('1')
  throw new Error(`no generator for path parameter ${parameter.name}`)
}

function validDraft(operation: Operation): fc.Arbitrary<RequestSpec> {
  const path = fc.record(
    Object.fromEntries(
      operation.pathParams.map((parameter) => [parameter.name, pathValue(parameter)]),
    ),
  )
  const query = fc
    .tuple(
      ...operation.query
        .filter((parameter) => !FROM_SERVICE.has(parameter.name))
        .map((parameter) => {
          const entry = valueArbitrary(parameter.schema, [parameter.name], generators).map(
            (value): [string, string] => [parameter.name, String(value)],
          )
          return parameter.required ? entry : fc.option(entry, { nil: undefined })
        }),
    )
    .map((entries) => entries.filter((entry): entry is [string, string] => entry !== undefined))
  const auth = operation.secured
    ? fc.record({
        place: fc.constantFrom<Place>('bearer', 'cookie'),
        token: fc.constantFrom(TOKEN_BUSINESS, TOKEN_BOTH),
      })
    : fc.constant({ place: 'none' as Place, token: '' })
  const body: fc.Arbitrary<Body> = operation.csv
    ? csvFileArbitrary
    : operation.body
      ? valueArbitrary(operation.body, [], generators).map((value) => ({ kind: 'json', value }))
      : fc.constant({ kind: 'none' })
  return fc.record({
    path,
    query,
    auth,
    body,
    signature: fc.constant<Signature>({ kind: 'valid' }),
    trailingSlash: fc.boolean(),
    wantCursor: operation.query.some((parameter) => parameter.name === 'after')
      ? fc.boolean()
      : fc.constant(false),
    redeliver: operation.signed ? fc.nat(7).map((n) => n === 0) : fc.constant(false),
  })
}

const DAY_MS = 86_400_000
const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/
const boundOf = (text: string, edge: 'start' | 'end'): number =>
  DATE_ONLY.test(text)
    ? Date.parse(`${text}T00:00:00Z`) + (edge === 'end' ? DAY_MS - 1 : 0)
    : Date.parse(text)

let sequence = 0
const delivered: SaleEventBody[] = []

const withQuery = (spec: RequestSpec, name: string, value: string | undefined): RequestSpec => ({
  ...spec,
  query: [
    ...spec.query.filter(([key]) => key !== name),
    ...(value === undefined ? [] : [[name, value] as [string, string]]),
  ],
})

const codePoints = (text: string, length: number): string => [...text].slice(0, length).join('')

/** Fresh event and sale ids for the sales feed, and the fields each event type needs. */
function freshEvent(value: unknown): SaleEventBody {
  const event = structuredClone(value) as SaleEventBody
  sequence += 1
  event.id = `${codePoints(event.id, 150)}#fuzz-${sequence}`
  const data = event.data
  data.sale_id = `${codePoints(String(data.sale_id), 60)}#fuzz-${sequence}`
  if (event.type === 'sale.completed') {
    data.total_amount ??= '100.00'
    data.completed_at ??= '2026-11-26T09:59:00Z'
  }
  if (event.type === 'sale.refunded') {
    const refund = data.refund_amount
    if (refund === undefined || Number(refund) === 0) data.refund_amount = '0.01'
  }
  return event
}

/** The parts of a valid request only the service or the sequence of requests can supply. */
async function prepare(
  operation: Operation,
  draft: RequestSpec,
  forMutation: boolean,
): Promise<RequestSpec> {
  let spec = draft
  if (operation.signed && spec.body.kind === 'json') {
    const earlier =
      spec.redeliver && !forMutation
        ? delivered.at(-1 - (sequence % Math.max(1, delivered.length)))
        : undefined
    spec = { ...spec, body: { kind: 'json', value: earlier ?? freshEvent(spec.body.value) } }
  }
  if (operation.id === 'getPurchaseHistory') {
    const start = spec.query.find(([name]) => name === 'start_date')?.[1]
    const end = spec.query.find(([name]) => name === 'end_date')?.[1]
    if (start !== undefined && end !== undefined && boundOf(start, 'start') > boundOf(end, 'end')) {
      spec = withQuery(spec, 'end_date', undefined)
    }
  }
  if (!forMutation && (operation.id === 'mergeCustomers' || operation.id === 'undoMerge')) {
    // A valid merge needs active customers nobody merged: fresh ones each time (the fixtures
    // may have been deleted); a valid undo needs a merge of its own.
    sequence += 1
    const fresh = (role: string) =>
      createCustomerId(server.inject, BUSINESS, { name: `Fuzz ${role} ${sequence}` })
    const [target, source] = [await fresh('target'), await fresh('source')]
    if (operation.id === 'mergeCustomers') {
      spec = {
        ...spec,
        path: { ...spec.path, customerId: String(target) },
        body: { kind: 'json', value: { source_ids: [source] } },
      }
    } else {
      const merged = await server.inject({
        method: 'POST',
        url: `/api/customers/${BUSINESS}/${target}/merge`,
        headers: authFor(BUSINESS),
        payload: { source_ids: [source] },
      })
      const mergeId = (jsonOf(merged) as { merge?: { id?: number } }).merge?.id
      if (mergeId === undefined) throw new Error(`fuzz merge setup: ${merged.statusCode}`)
      spec = { ...spec, path: { ...spec.path, mergeId: String(mergeId) } }
    }
  }
  if (!forMutation && (operation.id === 'getImport' || operation.id === 'getImportErrors')) {
    // A read of an import needs one: a small file's, uploaded here.
    const uploaded = await server.inject({
      method: 'POST',
      url: `/api/customers/${BUSINESS}/imports`,
      headers: { ...authFor(BUSINESS), 'content-type': 'text/csv' },
      payload: 'name\nFuzz Import\n',
    })
    const importId = (jsonOf(uploaded) as { import?: { id?: number } }).import?.id
    if (importId === undefined) throw new Error(`fuzz import setup: ${uploaded.statusCode}`)
    spec = { ...spec, path: { ...spec.path, importId: String(importId) } }
  }
  if (!forMutation && operation.pathParams.some((parameter) => parameter.name === 'endpointId')) {
    // An endpoint of its own each time: a valid DELETE removes it.
    sequence += 1
    const registered = await server.inject({
      method: 'POST',
      url: `/api/customers/${BUSINESS}/webhook-endpoints`,
      headers: authFor(BUSINESS),
      payload: { url: `https://fuzz-${sequence}.example/hook`, events: ['customer.created'] },
    })
    const endpointId = (jsonOf(registered) as { webhook_endpoint?: { id?: number } })
      .webhook_endpoint?.id
    if (endpointId === undefined) throw new Error(`fuzz endpoint setup: ${registered.statusCode}`)
    spec = { ...spec, path: { ...spec.path, endpointId: String(endpointId) } }
  }
  if (operation.id === 'eraseCustomer') {
    // An erasure is final and every later write to that customer a 409: a customer of its own
    // each time, so no request erases one the others use.
    sequence += 1
    const fresh = await createCustomerId(server.inject, BUSINESS, {
      name: `Fuzz erased ${sequence}`,
    })
    spec = { ...spec, path: { ...spec.path, customerId: String(fresh) } }
  }
  if (spec.wantCursor && !forMutation) {
    // A real cursor: the first page of the same list, one customer long.
    const scope = spec.query.filter(([name]) =>
      ['sort_by', 'sort_order', 'filter_type', 'is_active'].includes(name),
    )
    const firstPage: RequestSpec = { ...spec, query: [...scope, ['limit', '1']], wantCursor: false }
    const response = await send(operation, firstPage)
    const problems = problemsWith(operation, response, { kind: 'success' })
    if (problems.length > 0)
      throw failure(operation, firstPage, response, problems, 'first page for a cursor')
    const next = (jsonOf(response) as { next_after?: unknown }).next_after
    if (typeof next === 'string')
      spec = withQuery(withQuery(spec, 'offset', undefined), 'after', next)
  }
  return spec
}

async function checkValid(operation: Operation, draft: RequestSpec): Promise<void> {
  const spec = await prepare(operation, draft, false)
  const response = await send(operation, spec)
  const problems = problemsWith(operation, response, { kind: 'success' })
  if (operation.signed && spec.body.kind === 'json' && response.statusCode === 200) {
    const event = spec.body.value as SaleEventBody
    const redelivered = delivered.includes(event)
    // A payer's sale goes to a customer with that phone, if the business has one, or waits.
    const expected = redelivered
      ? ['duplicate']
      : event.data.customer_id !== null
        ? ['processed']
        : event.data.payer
          ? ['unattributed', 'processed']
          : ['ignored']
    const answer = jsonOf(response) as { status?: unknown; matched_by?: unknown }
    if (!expected.includes(String(answer.status)))
      problems.push(`the feed answered ${String(answer.status)}, expected ${expected.join(' or ')}`)
    if (event.data.customer_id === null && answer.status === 'processed' && !answer.matched_by)
      problems.push('a payer-matched sale must say matched_by')
    if (!redelivered) delivered.push(event)
  }
  if (problems.length > 0) throw failure(operation, spec, response, problems, 'valid request')
}

// ---------------------------------------------------------------------------------------------
// Invalid requests: a valid one with one thing broken.

/** Kinds of breakage, each fuzzed as its own property so one defect does not hide another. */
type Family =
  | 'credentials'
  | 'path ids'
  | 'query parameters'
  | 'cursors'
  | 'body shape'
  | 'field values'
  | 'NUL bytes'
  | 'sales feed semantics'
  | 'signatures'
  | 'edge cases (no 5xx)'

interface Tagged {
  family: Family
  arbitrary: fc.Arbitrary<Mutation>
}

const tag = (family: Family, arbitraries: fc.Arbitrary<Mutation>[]): Tagged[] =>
  arbitraries.map((arbitrary) => ({ family, arbitrary }))

interface Mutation {
  label: string
  expect: Expectation
  apply: (spec: RequestSpec) => RequestSpec
}

const refused = (...statuses: number[]): Expectation => ({ kind: 'refused', statuses })
const NO_5XX: Expectation = { kind: 'no-5xx' }
/** A value the document accepts, sent where a mutation might be expected: a documented 2xx. */
const ACCEPTED: Expectation = { kind: 'success' }

function mutation(
  label: string,
  expect: Expectation,
  apply: (spec: RequestSpec) => RequestSpec,
): Mutation {
  return { label, expect, apply }
}

const clone = <T>(value: T): T => structuredClone(value)

function setAt(value: unknown, path: string[], next: unknown): unknown {
  if (path.length === 0) return next
  const copy = clone(value) as Record<string, unknown>
  let node = copy
  for (const key of path.slice(0, -1)) node = node[key] as Record<string, unknown>
  node[path.at(-1)!] = next
  return copy
}

function deleteAt(value: unknown, path: string[]): unknown {
  const copy = clone(value) as Record<string, unknown>
  let node = copy
  for (const key of path.slice(0, -1)) node = node[key] as Record<string, unknown>
  Reflect.deleteProperty(node, path.at(-1)!)
  return copy
}

function getAt(value: unknown, path: string[]): unknown {
  return path.reduce<unknown>(
    (node, key) => (node as Record<string, unknown> | undefined)?.[key],
    value,
  )
}

const jsonValue = (spec: RequestSpec): unknown => (spec.body.kind === 'json' ? spec.body.value : {})
const withJson = (spec: RequestSpec, value: unknown): RequestSpec => ({
  ...spec,
  body: { kind: 'json', value },
})
const withRaw = (
  spec: RequestSpec,
  text: string,
  contentType = 'application/json',
): RequestSpec => ({
  ...spec,
  body: { kind: 'raw', text, contentType },
})

/** 400, or 413 once the body is past the documented limit. */
const tooBigOr400 = (spec: RequestSpec): Expectation =>
  Buffer.byteLength(payloadOf(spec.body) ?? '') > BODY_LIMIT_BYTES ? refused(413) : refused(400)

const sized = (label: string, apply: (spec: RequestSpec) => RequestSpec): Mutation => {
  // The expectation depends on the size of the mutated body, known only once applied.
  let expectation: Expectation = refused(400)
  return {
    label,
    get expect() {
      return expectation
    },
    apply: (spec) => {
      const mutated = apply(spec)
      expectation = tooBigOr400(mutated)
      return mutated
    },
  }
}

const MALFORMED_IDS = [
  'abc',
  '0',
  '-1',
  '1.5',
  '1e3',
  '0x1F',
  '%2B1',
  '9007199254740992',
  '99999999999999999999999',
  '%D9%A1',
  '%EF%BC%91',
  '%00',
  '1%00',
  'null',
  'true',
  '%20',
  '1%20',
  '%27%20OR%201%3D1%20--',
  '1%3BDROP',
  '%E2%80%8B1',
  '%F0%9F%98%80',
  '9'.repeat(400),
  '%',
  '1%E0%A4%A',
]

const BAD_INTEGER_TEXT = [
  'abc',
  '1.5',
  '1e2',
  '0x10',
  '+3',
  '',
  '١',
  '９',
  'NaN',
  'Infinity',
  '1,000',
  '- 1',
  '--1',
  '1_000',
  '0b1',
  'true',
  'null',
  '[]',
  '1 2',
  '1\u0000',
]

const WHITESPACE = [' ', '   ', '\t', '\n\r\n', '\u00a0', '\u2003\u2003', '\ufeff', '\u3000']

const WRONG_VALUES: unknown[] = [
  0,
  1,
  -1,
  1.5,
  1e300,
  -1e-9,
  true,
  false,
  null,
  [],
  {},
  [1],
  ['x'],
  { a: 1 },
  'x',
  'a'.repeat(3000),
  '😀'.repeat(300),
]

/** Values that break a field: the generic pool plus ones aimed at the field's constraints. */
function candidatesFor(schema: Schema): fc.Arbitrary<unknown> {
  const aimed: fc.Arbitrary<unknown>[] = [fc.constantFrom(...WRONG_VALUES)]
  const leaves = [schema, ...(schema.anyOf ?? []), ...(schema.oneOf ?? [])]
  for (const leaf of leaves) {
    if (leaf.maxLength !== undefined) {
      const least = leaf.maxLength + 1
      aimed.push(fc.string({ unit: visibleUnit, minLength: least, maxLength: least + 30 }))
    }
    if (leaf.minimum !== undefined)
      aimed.push(fc.constantFrom(leaf.minimum - 1, leaf.minimum - 0.5, -1e12))
    if (leaf.maximum !== undefined)
      aimed.push(fc.constantFrom(leaf.maximum + 1, leaf.maximum * 10 + 1))
    if (leaf.enum)
      aimed.push(
        fc.constantFrom(
          ...leaf.enum.map((value) => String(value).toUpperCase()),
          'other',
          'sale.deleted',
          'bitcoin',
        ),
      )
    if (leaf.format) {
      aimed.push(
        fc.constantFrom(
          'plainaddress',
          'a@',
          '@example.com',
          'a b@c.de',
          'a@b..ke',
          'yesterday',
          '2026-02-30',
          '2026-13-01T00:00:00Z',
          '2026-11-26T25:00:00Z',
          '2026-11-26T09:59:00',
          '26/11/2026',
        ),
      )
    }
    if (leaf.pattern) {
      aimed.push(
        fc.constantFrom(
          'plainaddress',
          'a@',
          'a@dev',
          '@example.com',
          'a b@c.de',
          'a@b..ke',
          'a@-b.ke',
          '.a@b.ke',
          '1.234',
          '-1',
          '1e3',
          '1,000.00',
          'abc',
          '12345678901',
          '.5',
          '1.',
          '0x10',
          '١٢',
        ),
      )
    }
    if (leaf.maxItems !== undefined)
      aimed.push(fc.constant(Array.from({ length: leaf.maxItems + 1 }, (_, i) => i + 1)))
    if (leaf.items) {
      aimed.push(
        fc.constantFrom([0], [-1], [1.5], [Number.MAX_SAFE_INTEGER + 1], ['1'], [null], [[1]]),
      )
    }
  }
  return fc.oneof(...aimed)
}

interface Field {
  path: string[]
  schema: Schema
  required: boolean
  topLevel: boolean
}

function fieldsOf(schema: Schema, prefix: string[] = []): Field[] {
  return Object.entries(schema.properties ?? {}).flatMap(([name, child]) => {
    const field: Field = {
      path: [...prefix, name],
      schema: child,
      required: (schema.required ?? []).includes(name),
      topLevel: prefix.length === 0,
    }
    return child.properties ? [field, ...fieldsOf(child, field.path)] : [field]
  })
}

/** Objects inside a body schema, with where they are. */
function objectsOf(schema: Schema, prefix: string[] = []): { path: string[]; schema: Schema }[] {
  return [
    { path: prefix, schema },
    ...Object.entries(schema.properties ?? {}).flatMap(([name, child]) =>
      child.properties ? objectsOf(child, [...prefix, name]) : [],
    ),
  ]
}

/**
 * The document rejects this value for the field, after the service cleans top-level strings (an
 * empty result is judged like any other: the Blank schema says where it is accepted).
 */
function rejects(field: Field, value: unknown): boolean {
  if (typeof value === 'string' && field.topLevel) {
    return !accepts(field.schema, cleanText(value, BODY_TEXT_RULES[named(field.path)] ?? 'plain'))
  }
  return !accepts(field.schema, value)
}

const named = (path: string[]): string => path.join('.')

/** Phone numbers: the document says "a valid phone number"; semantic generators stand in. */
const PHONE_FIELDS = new Set(['phone', 'data.payer.phone'])

/** Fields a NUL byte must make invalid (phones are parsed leniently, digits out of text). */
const nulTargets = (fields: Field[]): Field[] =>
  fields.filter((field) => allowsString(field.schema) && !PHONE_FIELDS.has(named(field.path)))

function insertAt(text: string, position: number, insert: string): string {
  const points = [...text]
  const at = position % (points.length + 1)
  return [...points.slice(0, at), insert, ...points.slice(at)].join('')
}

function bodyMutations(operation: Operation, body: Schema): Tagged[] {
  const fields = fieldsOf(body)
  const stringFields = fields.filter((field) => allowsString(field.schema))
  const shape: fc.Arbitrary<Mutation>[] = [
    fc
      .constantFrom('[]', '"a customer"', '42', 'null', 'true', '[{}]')
      .map((text) => mutation(`body ${text}`, refused(400), (spec) => withRaw(spec, text))),
    fc
      .constantFrom(
        '{',
        '{"a":',
        '{"a":1,}',
        "{'a':1}",
        '{"a":1}}',
        'NaN',
        '{"a":"\\x41"}',
        '{"a":1 "b":2}',
        '\u0000',
        '{"a":01}',
        '[1,]',
      )
      .map((text) =>
        mutation(`malformed JSON ${JSON.stringify(text)}`, refused(400), (spec) =>
          withRaw(spec, text),
        ),
      ),
    fc.constant(mutation('an empty JSON body', refused(400), (spec) => withRaw(spec, ''))),
    fc
      .constantFrom(
        'text/plain',
        'application/x-www-form-urlencoded',
        'application/xml',
        'text/html',
        'multipart/form-data; boundary=x',
        'application/octet-stream',
      )
      .map((type) =>
        mutation(`content-type ${type}`, refused(415), (spec) =>
          withRaw(spec, payloadOf(spec.body) ?? '{}', type),
        ),
      ),
    fc
      .tuple(
        fc.constantFrom(...objectsOf(body)),
        fc.oneof(
          fc.constantFrom(
            'extra',
            'id',
            'business_id',
            'customer_id',
            'created_at',
            'is_admin',
            'average_spend',
            'Name',
            'name ',
            '$where',
            'role',
            '',
          ),
          fc.string({ unit: textUnit, minLength: 1, maxLength: 12 }),
        ),
        fc.constantFrom<unknown>(true, 1, 'x', null, {}),
      )
      .filter(
        ([object, key]) =>
          !(key in (object.schema.properties ?? {})) &&
          !['__proto__', 'constructor', 'prototype'].includes(key),
      )
      .map(([object, key, value]) =>
        mutation(
          `unknown field ${JSON.stringify(named([...object.path, key]))}`,
          refused(400),
          (spec) => withJson(spec, setAt(jsonValue(spec), [...object.path, key], value)),
        ),
      ),
  ]
  const values: fc.Arbitrary<Mutation>[] = [
    fc.constantFrom(...fields).chain((field) =>
      candidatesFor(field.schema)
        .filter((value) => rejects(field, value))
        .map((value) =>
          sized(`${named(field.path)} = ${truncate(JSON.stringify(value), 60)}`, (spec) =>
            withJson(spec, setAt(jsonValue(spec), field.path, value)),
          ),
        ),
    ),
  ]
  // A body of ids only (a merge's) has no text to blow past the limit with.
  if (stringFields.length > 0) {
    shape.push(
      fc
        .tuple(
          fc.constantFrom(...stringFields),
          fc.integer({ min: BODY_LIMIT_BYTES + 1, max: 4 * BODY_LIMIT_BYTES }),
        )
        .map(([field, length]) =>
          mutation(`${named(field.path)} of ${length} characters`, refused(413), (spec) =>
            withJson(spec, setAt(jsonValue(spec), field.path, 'x'.repeat(length))),
          ),
        ),
    )
  }
  const required = fields.filter((field) => field.required)
  if (required.length > 0) {
    shape.push(
      fc
        .constantFrom(...required)
        .map((field) =>
          mutation(`${named(field.path)} missing`, refused(400), (spec) =>
            withJson(spec, deleteAt(jsonValue(spec), field.path)),
          ),
        ),
    )
  }
  const nonEmpty = stringFields.filter((field) => (field.schema.minLength ?? 0) >= 1)
  if (nonEmpty.length > 0) {
    values.push(
      fc.tuple(fc.constantFrom(...nonEmpty), fc.constantFrom(...WHITESPACE)).map(([field, blank]) =>
        // Top-level strings are trimmed; nested ones are taken as sent, so there '' is the blank.
        mutation(`${named(field.path)} blank`, refused(400), (spec) =>
          withJson(spec, setAt(jsonValue(spec), field.path, field.topLevel ? blank : '')),
        ),
      ),
    )
  }
  const nulFields = nulTargets(fields)
  const nul: fc.Arbitrary<Mutation>[] = []
  const edges: fc.Arbitrary<Mutation>[] = []
  if (nulFields.length > 0) {
    nul.push(
      fc.tuple(fc.constantFrom(...nulFields), fc.nat()).map(([field, position]) =>
        mutation(`NUL byte in ${named(field.path)}`, refused(400), (spec) => {
          const current = getAt(jsonValue(spec), field.path)
          const text =
            typeof current === 'string'
              ? current
              : Array.isArray(current)
                ? JSON.stringify(current)
                : 'x'
          return withJson(
            spec,
            setAt(jsonValue(spec), field.path, insertAt(text, position, '\u0000')),
          )
        }),
      ),
    )
    edges.push(
      fc.tuple(fc.constantFrom(...nulFields), fc.nat()).map(([field, position]) =>
        mutation(`lone surrogate in ${named(field.path)}`, NO_5XX, (spec) => {
          const current = getAt(jsonValue(spec), field.path)
          const text = typeof current === 'string' ? current : 'x'
          return withJson(
            spec,
            setAt(jsonValue(spec), field.path, insertAt(text, position, '\ud800')),
          )
        }),
      ),
    )
  }
  if ((body.minProperties ?? 0) > 0) {
    values.push(
      fc.constant(mutation('an empty object', refused(400), (spec) => withJson(spec, {}))),
    )
  }
  // A blank optional field means what its schema says (the Blank schema: left out on create,
  // cleared on update); where the schema refuses it (an enum, JSON text), it is a 400.
  const optionalText = fields.filter(
    (field) => field.topLevel && !field.required && allowsString(field.schema),
  )
  if (optionalText.length > 0) {
    const alone = (body.required ?? []).length === 0
    values.push(
      fc
        .tuple(fc.constantFrom(...optionalText), fc.constantFrom('', ...WHITESPACE), fc.boolean())
        .map(([field, blank, only]) => {
          const refusedByDocument = rejects(field, blank)
          return mutation(
            `${only && alone ? 'only ' : ''}${named(field.path)} blank (${refusedByDocument ? 'refused' : 'accepted'} by the document)`,
            refusedByDocument ? refused(400) : ACCEPTED,
            (spec) =>
              withJson(
                spec,
                only && alone
                  ? { [field.path[0]!]: blank }
                  : setAt(jsonValue(spec), field.path, blank),
              ),
          )
        }),
    )
  }
  for (const phoneField of fields.filter((field) => PHONE_FIELDS.has(named(field.path)))) {
    values.push(
      fc
        .constantFrom(
          '12',
          'abc',
          '+999 123',
          '0000000000',
          '++254712345678',
          '07123',
          '0712 345 67x',
          '+1 000',
          '254',
        )
        .map((phone) =>
          mutation(`${named(phoneField.path)} ${JSON.stringify(phone)}`, refused(400), (spec) =>
            withJson(spec, setAt(jsonValue(spec), phoneField.path, phone)),
          ),
        ),
    )
  }
  if (fields.some((field) => named(field.path) === 'favorite_products')) {
    values.push(
      fc
        .constantFrom(
          '[',
          '{"a":1}',
          '1',
          '"x"',
          '[0]',
          '[1.5]',
          '[-1]',
          '[1e400]',
          '[9007199254740992]',
          'null',
          '[null]',
          '["1"]',
          JSON.stringify(Array.from({ length: 101 }, (_, i) => i + 1)),
        )
        .map((text) =>
          mutation(
            `favorite_products ${truncate(JSON.stringify(text), 40)}`,
            refused(400),
            (spec) => withJson(spec, setAt(jsonValue(spec), ['favorite_products'], text)),
          ),
        ),
    )
  }
  return [
    ...tag('body shape', shape),
    ...tag('field values', values),
    ...tag('NUL bytes', nul),
    ...tag('edge cases (no 5xx)', edges),
    ...(operation.signed ? saleEventMutations() : []),
  ]
}

/** What the sales feed must refuse although the document's schema accepts it. */
function saleEventMutations(): Tagged[] {
  const event = (spec: RequestSpec): SaleEventBody => clone(jsonValue(spec)) as SaleEventBody
  const customer = (value: SaleEventBody): number =>
    typeof value.data.customer_id === 'number' ? value.data.customer_id : customers[0]!
  const change =
    (apply: (value: SaleEventBody) => void) =>
    (spec: RequestSpec): RequestSpec => {
      const value = event(spec)
      apply(value)
      return withJson(spec, value)
    }
  const timestamps = [
    '0000-01-01T00:00:00Z',
    '9999-12-31T23:59:59-12:00',
    '2026-06-30T23:59:60Z',
    '1969-12-31T23:59:59.999999Z',
    '2026-11-26T09:59:00+23:59',
  ]
  const semantics = [
    fc.constantFrom(...otherCustomers).map((id) =>
      mutation(
        `customer ${id} of business ${OTHER_BUSINESS}`,
        refused(422),
        change((value) => {
          value.data.customer_id = id
        }),
      ),
    ),
    fc.integer({ min: 10_000_000, max: 2 ** 31 - 1 }).map((id) =>
      mutation(
        `customer ${id} that does not exist`,
        refused(422),
        change((value) => {
          value.data.customer_id = id
        }),
      ),
    ),
    fc.constantFrom(OTHER_BUSINESS, UNGRANTED_BUSINESS, Number.MAX_SAFE_INTEGER).map((businessId) =>
      mutation(
        `business ${businessId}, which has no such customer`,
        refused(422),
        change((value) => {
          value.data.customer_id = customer(value)
          value.data.business_id = businessId
        }),
      ),
    ),
    fc.constantFrom('total_amount', 'completed_at').map((field) =>
      mutation(
        `sale.completed without ${field}`,
        refused(400),
        change((value) => {
          value.type = 'sale.completed'
          value.data.total_amount ??= '1.00'
          value.data.completed_at ??= '2026-11-26T09:59:00Z'
          Reflect.deleteProperty(value.data, field)
        }),
      ),
    ),
    fc.constantFrom<unknown>(undefined, 0, '0', '0.00', 0.001, '0.001').map((refund) =>
      mutation(
        `sale.refunded with refund_amount ${String(refund)}`,
        refused(400),
        change((value) => {
          value.type = 'sale.refunded'
          if (refund === undefined) delete value.data.refund_amount
          else value.data.refund_amount = refund
        }),
      ),
    ),
    fc.constantFrom(1.234, 0.001, 12.345).map((amount) =>
      mutation(
        `sale.completed with total_amount ${amount}`,
        refused(400),
        change((value) => {
          value.type = 'sale.completed'
          value.data.total_amount = amount
          value.data.completed_at ??= '2026-11-26T09:59:00Z'
        }),
      ),
    ),
    fc.constantFrom(1.2345, 0.0001).map((items) =>
      mutation(
        `sale.completed with items_count ${items}`,
        refused(400),
        change((value) => {
          value.type = 'sale.completed'
          value.data.items_count = items
          value.data.total_amount ??= '1.00'
          value.data.completed_at ??= '2026-11-26T09:59:00Z'
        }),
      ),
    ),
    fc.constantFrom('10.01', '1000000.00', 99999).map((refund) =>
      mutation(
        `refund ${refund} beyond the 10.00 of ${SEED_SALE}`,
        refused(422),
        change((value) => {
          value.type = 'sale.refunded'
          value.data.sale_id = SEED_SALE
          value.data.customer_id = customers[0]!
          value.data.refund_amount = refund
        }),
      ),
    ),
    fc.constantFrom(...customers.slice(1)).map((id) =>
      mutation(
        `${SEED_SALE} reported for customer ${id}, not its own`,
        refused(422),
        change((value) => {
          value.type = 'sale.completed'
          value.data.sale_id = SEED_SALE
          value.data.customer_id = id
          value.data.total_amount ??= '1.00'
          value.data.completed_at ??= '2026-11-26T09:59:00Z'
        }),
      ),
    ),
  ]
  const edges = [
    fc
      .tuple(fc.constantFrom('created_at', 'data.completed_at'), fc.constantFrom(...timestamps))
      .map(([field, timestamp]) =>
        mutation(
          `${field} ${timestamp} (edge)`,
          NO_5XX,
          change((value) => {
            if (field === 'created_at') {
              value.created_at = timestamp
              return
            }
            // A completion, so that the time is stored.
            value.type = 'sale.completed'
            value.data.total_amount ??= '1.00'
            value.data.completed_at = timestamp
          }),
        ),
      ),
  ]
  const signatures = [
    fc.constant(
      mutation('no PayMe-Signature', refused(401), (spec) => ({
        ...spec,
        signature: { kind: 'none' },
      })),
    ),
    fc
      .constantFrom(
        'garbage',
        't=1',
        'v1=abc',
        `t=${nowSeconds()}`,
        `t=${nowSeconds()},v1=${'0'.repeat(64)}`,
        `t=abc,v1=${'a'.repeat(64)}`,
        'v0=1,t=2',
        ','.repeat(500),
      )
      .map((header) =>
        mutation(
          `PayMe-Signature ${JSON.stringify(truncate(header, 40))}`,
          refused(401),
          (spec) => ({
            ...spec,
            signature: { kind: 'literal', header },
          }),
        ),
      ),
    fc
      .record({
        secret: fc.constantFrom(
          TEST_WEBHOOK_SECRET,
          'another-secret-of-the-feed',
          TEST_WEBHOOK_SECRET.toUpperCase(),
        ),
        skewSeconds: fc.oneof(
          fc.constant(0),
          fc.integer({ min: 301, max: 10 ** 6 }),
          fc.integer({ min: -(10 ** 6), max: -301 }),
        ),
        signedSuffix: fc.constantFrom('', ' ', '\n', 'x'),
      })
      .filter(
        ({ secret, skewSeconds, signedSuffix }) =>
          !(secret === TEST_WEBHOOK_SECRET && skewSeconds === 0 && signedSuffix === ''),
      )
      .map((signature) =>
        mutation(
          `signed with ${signature.secret === TEST_WEBHOOK_SECRET ? 'the secret' : 'another secret'}, clock ${signature.skewSeconds} s, over ${JSON.stringify(signature.signedSuffix)} more`,
          refused(401),
          (spec) => ({ ...spec, signature: { kind: 'signed', ...signature } }),
        ),
      ),
  ]
  return [
    ...tag('sales feed semantics', semantics),
    ...tag('edge cases (no 5xx)', edges),
    ...tag('signatures', signatures),
  ]
}

function queryMutations(parameter: Parameter): Tagged[] {
  const { name, schema } = parameter
  const set = (value: string) => (spec: RequestSpec) => withQuery(spec, name, value)
  const cleaned = (value: string): string => cleanText(value, QUERY_TEXT_RULES[name] ?? 'plain')
  const types = typesOf(schema)
  const mutations: fc.Arbitrary<Mutation>[] = []
  const nul: fc.Arbitrary<Mutation>[] = []
  const edges: fc.Arbitrary<Mutation>[] = []
  const valid = valueArbitrary(schema, [name], generators).map(String)
  if (name !== 'after') {
    mutations.push(
      fc.tuple(valid, valid).map(([first, second]) =>
        mutation(`${name} given twice`, refused(400), (spec) => ({
          ...withQuery(spec, name, undefined),
          query: [...withQuery(spec, name, undefined).query, [name, first], [name, second]],
        })),
      ),
    )
  }
  if (parameter.required) {
    mutations.push(
      fc.constant(
        mutation(`${name} missing`, refused(400), (spec) => withQuery(spec, name, undefined)),
      ),
    )
  }
  if (types.includes('integer')) {
    const outOfRange: fc.Arbitrary<string>[] = [
      // 309 digits and more are beyond a double: Infinity.
      fc.constantFrom(20, 100, 308, 309, 400).map((digits) => '9'.repeat(digits)),
    ]
    if (schema.minimum !== undefined) {
      outOfRange.push(fc.integer({ min: -1_000_000, max: schema.minimum - 1 }).map(String))
    }
    if (schema.maximum !== undefined) {
      outOfRange.push(
        fc
          .bigInt({ min: BigInt(schema.maximum) + 1n, max: BigInt(schema.maximum) + 10n ** 12n })
          .map(String),
      )
    }
    mutations.push(
      fc
        .oneof(fc.constantFrom(...BAD_INTEGER_TEXT), ...outOfRange)
        .map((value) =>
          mutation(`${name}=${JSON.stringify(truncate(value, 40))}`, refused(400), set(value)),
        ),
    )
  }
  if (types.includes('boolean')) {
    mutations.push(
      fc
        .constantFrom('yes', 'no', 'on', 'off', '2', '-1', 'truee', 'nope', 'true\u0000')
        .map((value) => mutation(`${name}=${JSON.stringify(value)}`, refused(400), set(value))),
    )
  }
  if (schema.enum) {
    const members = schema.enum.map(String)
    mutations.push(
      fc
        .oneof(
          fc.constantFrom(
            ...members.map((member) => member.toUpperCase()),
            ...members.map((member) => `${member}\u0000`),
          ),
          fc.string({ unit: textUnit, minLength: 1, maxLength: 20 }),
        )
        .filter((value) => cleaned(value) !== '' && !members.includes(cleaned(value)))
        .map((value) => mutation(`${name}=${JSON.stringify(value)}`, refused(400), set(value))),
    )
  }
  if (types.includes('string') && !schema.enum) {
    if (schema.maxLength !== undefined) {
      const least = schema.maxLength + 1
      mutations.push(
        fc
          .oneof(
            fc.string({ unit: visibleUnit, minLength: least, maxLength: least + 50 }),
            fc.integer({ min: 1000, max: 8000 }).map((length) => 'q'.repeat(length)),
          )
          .filter((value) => [...cleaned(value)].length >= least)
          .map((value) =>
            mutation(`${name} of ${[...value].length} characters`, refused(400), set(value)),
          ),
      )
    }
    if ((schema.minLength ?? 0) >= 1) {
      mutations.push(
        fc
          .constantFrom(...WHITESPACE)
          .map((value) => mutation(`${name} blank`, refused(400), set(value))),
      )
    }
    if (schema.pattern) {
      const pattern = new RegExp(schema.pattern)
      mutations.push(
        fc
          .string({ unit: textUnit, minLength: 1, maxLength: 30 })
          .filter((value) => cleaned(value) !== '' && !pattern.test(cleaned(value)))
          .map((value) =>
            mutation(
              `${name}=${JSON.stringify(value)} (outside ${schema.pattern})`,
              refused(400),
              set(value),
            ),
          ),
      )
    }
    nul.push(
      fc
        .tuple(valid, fc.nat())
        .map(([value, position]) =>
          mutation(`NUL byte in ${name}`, refused(400), set(insertAt(value, position, '\u0000'))),
        ),
    )
  }
  if (!schema.enum && (schema.anyOf ?? []).some((branch) => branch.format !== undefined)) {
    mutations.push(
      fc
        .oneof(
          fc.constantFrom(
            'yesterday',
            '2026-02-30',
            '2026-13-01',
            '2026-11-26T25:00:00Z',
            '26/11/2026',
            '2026-11-26T09:59',
            '2026-11-26X10:00:00Z',
            '2026-1-1',
            '20261126',
            '2026-11-26\u0000',
          ),
          fc.string({ unit: textUnit, minLength: 1, maxLength: 25 }),
        )
        .filter((value) => cleaned(value) !== '' && !accepts(schema, cleaned(value)))
        .map((value) => mutation(`${name}=${JSON.stringify(value)}`, refused(400), set(value))),
    )
    edges.push(
      fc
        .constantFrom(
          '0000-01-01',
          '0000-01-01T00:00:00Z',
          '9999-12-31T23:59:59-12:00',
          '2026-06-30T23:59:60Z',
          '1969-12-31T23:59:59.999999Z',
          '9999-12-31',
        )
        .map((value) => mutation(`${name}=${value} (edge)`, NO_5XX, set(value))),
    )
  }
  return [
    ...tag('query parameters', mutations),
    ...tag('NUL bytes', nul),
    ...tag('edge cases (no 5xx)', edges),
  ]
}

/** The server's cursor key, as if it had leaked: forged cursors pass the signature check. */
const cursorCodec = createListCursorCodec([TEST_CURSOR_SECRET])

/**
 * A cursor correctly signed for the request's business and list that points at a key that is
 * not one: only the checks of the position itself stand between it and SQL.
 */
function forgedCursor(spec: RequestSpec, key: unknown, id: unknown): string {
  const value = (name: string, fallback: string): string =>
    spec.query.find(([key]) => key === name)?.[1] ?? fallback
  const scope = {
    sortBy: value('sort_by', 'created_at'),
    sortOrder: value('sort_order', 'desc'),
    isActive: value('is_active', 'true') === 'true',
    customerType: spec.query.find(([name]) => name === 'filter_type')?.[1] ?? null,
  } as ListScope
  return cursorCodec.encode(Number(spec.path.businessId), scope, { key, id } as ListPosition)
}

function cursorMutations(): fc.Arbitrary<Mutation>[] {
  const withCursor = (build: (spec: RequestSpec) => string) => (spec: RequestSpec) =>
    withQuery(withQuery(spec, 'offset', undefined), 'after', build(spec))
  const sortedBy = (spec: RequestSpec): string =>
    spec.query.find(([name]) => name === 'sort_by')?.[1] ?? 'created_at'
  return [
    fc
      .tuple(
        fc.string({ unit: textUnit, minLength: 0, maxLength: 20 }),
        fc.integer({ min: 1, max: 2 ** 31 - 1 }),
      )
      .map(([text, id]) =>
        mutation(
          `after: a forged cursor whose key ${JSON.stringify(text)} is not a sort key`,
          refused(400),
          (spec) => {
            // created_at wants a timestamp, id an integer, name a text without NUL.
            const by = sortedBy(spec)
            const key =
              by === 'name' ? `${text}\u0000` : by === 'id' ? `${text}x` : `not a time ${text}`
            return withCursor(() => forgedCursor(spec, key, id))(spec)
          },
        ),
      ),
    fc
      .constantFrom<[unknown, unknown]>(
        [5, 1],
        [null, 1],
        [{}, 1],
        [['a'], 1],
        ['2026-01-01', 1.5],
        ['2026-01-01', '1'],
        ['2026-01-01', 2 ** 60],
      )
      .map(([key, id]) =>
        mutation(
          `after: a cursor with key ${JSON.stringify(key)} and id ${JSON.stringify(id)}`,
          refused(400),
          (spec) => withCursor(() => forgedCursor(spec, key, id))(spec),
        ),
      ),
    fc.constant(
      mutation('after: a cursor of another ordering', refused(400), (spec) =>
        withCursor((current) => {
          const order =
            current.query.find(([name]) => name === 'sort_order')?.[1] === 'asc' ? 'desc' : 'asc'
          return forgedCursor(withQuery(current, 'sort_order', order), '2026-01-01 00:00:00+00', 1)
        })(spec),
      ),
    ),
    fc
      .stringMatching(/^[A-Za-z0-9_-]{1,60}$/)
      .map((text) =>
        mutation(`after=${text} (not a cursor)`, refused(400), (spec) =>
          withQuery(withQuery(spec, 'offset', undefined), 'after', text),
        ),
      ),
    fc.integer({ min: 1, max: 1000 }).map((offset) =>
      mutation(`after together with offset=${offset}`, refused(400), (spec) => {
        const cursor = forgedCursor(
          withQuery(spec, 'sort_by', 'id'),
          String(customers[0]),
          customers[0],
        )
        return withQuery(
          withQuery(withQuery(spec, 'sort_by', 'id'), 'after', cursor),
          'offset',
          String(offset),
        )
      }),
    ),
  ]
}

function authMutations(): fc.Arbitrary<Mutation> {
  const as =
    (token: string, place: Place = 'bearer') =>
    (spec: RequestSpec): RequestSpec => ({
      ...spec,
      auth: { place, token },
    })
  return fc.constantFrom(
    mutation('no token', refused(401), as('', 'none')),
    mutation('a token signed with another secret', refused(401), as(TOKEN_FORGED)),
    mutation('an expired token', refused(401), as(TOKEN_EXPIRED)),
    mutation('a malformed token', refused(401), as('not.a.jwt')),
    mutation('a malformed token in the cookie', refused(401), as('%00%ff', 'cookie')),
    mutation(`a token for business ${OTHER_BUSINESS} only`, refused(403), as(TOKEN_OTHER)),
    mutation(
      `business ${UNGRANTED_BUSINESS}, which the token does not grant`,
      refused(403),
      (spec) => ({
        ...spec,
        path: { ...spec.path, businessId: String(UNGRANTED_BUSINESS) },
        auth: { place: 'bearer', token: TOKEN_BOTH },
      }),
    ),
  )
}

function mutationsFor(operation: Operation): Tagged[] {
  const mutations: Tagged[] = []
  if (operation.secured) mutations.push({ family: 'credentials', arbitrary: authMutations() })
  for (const parameter of operation.pathParams) {
    mutations.push({
      family: 'path ids',
      arbitrary: fc.constantFrom(...MALFORMED_IDS).map((id) =>
        mutation(`${parameter.name} ${JSON.stringify(truncate(id, 40))}`, refused(400), (spec) => ({
          ...spec,
          path: { ...spec.path, [parameter.name]: id },
        })),
      ),
    })
    if (parameter.name === 'customerId') {
      mutations.push({
        family: 'path ids',
        arbitrary: fc
          .oneof(
            fc.constantFrom(...otherCustomers),
            fc.integer({ min: 10_000_000, max: 2 ** 31 - 1 }),
            fc.constant(Number.MAX_SAFE_INTEGER),
          )
          .map((id) =>
            mutation(
              otherCustomers.includes(id)
                ? `customer ${id} of business ${OTHER_BUSINESS}`
                : `customer ${id}, which does not exist`,
              refused(404),
              (spec) => ({
                ...spec,
                path: { ...spec.path, customerId: String(id) },
                auth: { place: 'bearer', token: TOKEN_BOTH },
              }),
            ),
          ),
      })
    }
  }
  for (const parameter of operation.query) mutations.push(...queryMutations(parameter))
  if (operation.query.some((parameter) => parameter.name === 'after')) {
    mutations.push(...tag('cursors', cursorMutations()))
  }
  if (operation.body) mutations.push(...bodyMutations(operation, operation.body))
  return mutations
}

/** Mutations grouped by family, in a stable order. */
function familiesOf(mutations: Tagged[]): [Family, fc.Arbitrary<Mutation>[]][] {
  const families = new Map<Family, fc.Arbitrary<Mutation>[]>()
  for (const { family, arbitrary } of mutations) {
    families.set(family, [...(families.get(family) ?? []), arbitrary])
  }
  return [...families.entries()]
}

async function checkInvalid(
  operation: Operation,
  draft: RequestSpec,
  broken: Mutation,
): Promise<void> {
  const spec = broken.apply(await prepare(operation, draft, true))
  const expectation = broken.expect
  const before = expectation.kind === 'refused' ? await fingerprint() : undefined
  const response = await send(operation, spec)
  const problems = problemsWith(operation, response, expectation)
  if (before !== undefined && (await fingerprint()) !== before) {
    problems.push(`business ${BUSINESS}'s rows changed although the request was refused`)
  }
  if (problems.length > 0) throw failure(operation, spec, response, problems, broken.label)
}

// ---------------------------------------------------------------------------------------------
// The runs.

/** Operations with nothing to break (no parameter, body or credential) get fewer runs. */
const hasInputs = (operation: Operation): boolean => mutationsFor(operation).length > 0
const weights = operations.map((operation) => (hasInputs(operation) ? 2 : 0.25))
const totalWeight = weights.reduce((sum, weight) => sum + weight, 0)
/** This operation's share of the requests; half for valid requests when it has inputs. */
const budgetOf = (index: number): number =>
  Math.ceil((TOTAL_REQUESTS * weights[index]!) / totalWeight)
const MIN_RUNS = 8

let failedProperties = 0

async function property<T>(
  t: Test,
  name: string,
  arbitrary: fc.Arbitrary<T>,
  check: (value: T) => Promise<void>,
  numRuns: number,
  seed: number,
): Promise<void> {
  const before = requests
  try {
    await fc.assert(fc.asyncProperty(arbitrary, check), {
      seed,
      numRuns,
      includeErrorInReport: true,
    })
    t.pass(`${name}: ${numRuns} runs, ${requests - before} requests`)
  } catch (error) {
    failedProperties += 1
    t.fail(`${name}: ${error instanceof Error ? error.message : String(error)}`)
  }
}

const described = <T extends object>(value: T, text: string): T =>
  Object.assign(value, { [fc.toStringMethod]: () => text })

for (const [index, operation] of operations.entries()) {
  await t.test(`${operation.id} (${operation.method} ${operation.path})`, async (t) => {
    const draft = validDraft(operation).map((spec) => described(spec, describe(operation, spec)))
    const families = familiesOf(mutationsFor(operation))
    const budget = budgetOf(index)
    const validRuns = families.length > 0 ? Math.ceil(budget / 2) : budget
    // Each property has its own seed, derived from the run's: FUZZ_SEED replays all of them.
    const seedOf = (offset: number): number => (SEED + index * 32 + offset) % 2 ** 31
    await property(
      t,
      `valid requests get a documented ${operation.success.join('/')}`,
      draft,
      (spec) => checkValid(operation, spec),
      Math.max(MIN_RUNS, validRuns),
      seedOf(0),
    )
    for (const [position, [family, arbitraries]] of families.entries()) {
      await property(
        t,
        family.startsWith('edge cases')
          ? `${family}: edge cases the validator lets through never get a 5xx`
          : `${family}: invalid requests get a documented 4xx in the error shape and change nothing`,
        fc.tuple(
          draft,
          fc.oneof(...arbitraries).map((broken) => described(broken, broken.label)),
        ),
        ([spec, broken]) => checkInvalid(operation, spec, broken),
        Math.max(
          family.startsWith('edge cases') ? 2 * MIN_RUNS : MIN_RUNS,
          Math.ceil((budget - validRuns) / families.length),
        ),
        seedOf(position + 1),
      )
    }
    if (families.length === 0) {
      t.comment(
        `${operation.id} has no parameter, body or credential to break: valid requests only`,
      )
    }
    t.same(
      await businessRows(OTHER_BUSINESS),
      otherBusinessBefore,
      `business ${OTHER_BUSINESS}'s rows are unchanged after fuzzing ${operation.id}`,
    )
  })
}

// ---------------------------------------------------------------------------------------------
// Unicode in every text field (lib/text.ts): combining marks, format characters (Cf), astral
// characters, and lone surrogates written as JSON escapes in a raw body. No answer is a 5xx; a
// lone surrogate is a 400 that changes nothing; a cleaned field is answered as lib/text.ts
// cleans it. Self-contained: its own generators, its own runs (UNICODE_RUNS per operation).

const UNICODE_RUNS = 24

const codePointIn = (min: number, max: number): fc.Arbitrary<string> =>
  fc.integer({ min, max }).map((code) => String.fromCodePoint(code))

/** Every format character (general category Cf): soft hyphen, bidi controls, ZWJ, tags… */
const FORMAT_CHARACTERS = Array.from({ length: 0x110000 }, (_, code) => code)
  .filter((code) => code < 0xd800 || code > 0xdfff)
  .map((code) => String.fromCodePoint(code))
  .filter((c) => /\p{Cf}/u.test(c))

const unicodeLetters = fc.string({
  unit: fc.constantFrom(...'aeiouAEIOUnkmwjZ', '\u00e9', '\u00c5', '\u1E9B', '\u0958', '\u212B'),
  minLength: 1,
  maxLength: 4,
})
/** A letter with one to three combining marks, often not in NFC order or form. */
const combiningSequence = fc
  .tuple(
    fc.constantFrom('a', 'e', 'o', 'A', 'n', '\u0915', '\u05D0', '\u3131'),
    fc.array(
      fc.oneof(
        codePointIn(0x0300, 0x036f),
        codePointIn(0x1ab0, 0x1aff),
        codePointIn(0x20d0, 0x20ff),
        codePointIn(0xfe20, 0xfe2f),
        fc.constantFrom('\u0323', '\u0301', '\u093C', '\u05B4', '\u3099'),
      ),
      { minLength: 1, maxLength: 3 },
    ),
  )
  .map(([base, marks]) => base + marks.join(''))
const formatCharacter = fc.constantFrom(...FORMAT_CHARACTERS)
const astralCharacter = fc.oneof(
  codePointIn(0x1f600, 0x1f64f),
  codePointIn(0x1f300, 0x1faff),
  fc.constantFrom(
    '\u{1F468}\u200D\u{1F469}\u200D\u{1F467}',
    '\u{1F1F0}\u{1F1EA}',
    '\u{1F44D}\u{1F3FD}',
  ),
  codePointIn(0x10000, 0x1ffff),
  codePointIn(0x20000, 0x2a6df),
  codePointIn(0xe0000, 0xe007f),
)
const unicodePiece = fc.oneof(
  { weight: 2, arbitrary: unicodeLetters },
  { weight: 3, arbitrary: combiningSequence },
  { weight: 3, arbitrary: formatCharacter },
  { weight: 3, arbitrary: astralCharacter },
  { weight: 1, arbitrary: fc.constant(' ') },
)
const unicodeText = fc.array(unicodePiece, { minLength: 1, maxLength: 12 }).map((p) => p.join(''))
/** Lone surrogates as JSON escapes: a high or a low half alone, or a pair in the wrong order. */
const loneSurrogateEscape = fc.oneof(
  fc.integer({ min: 0xd800, max: 0xdbff }).map((code) => `\\u${code.toString(16)}`),
  fc.integer({ min: 0xdc00, max: 0xdfff }).map((code) => `\\u${code.toString(16).toUpperCase()}`),
  fc.constant('\\ude00\\ud83d'),
)

interface UnicodeCase extends Mutation {
  /** A field the service cleans by a rule of lib/text.ts, and the text sent in it. */
  cleaned?: { key: string; text: string; rule: TextRule }
}

const SURROGATE_MARK = 'LONE-SURROGATE-HERE'

function unicodeCases(operation: Operation): fc.Arbitrary<UnicodeCase>[] {
  const cases: fc.Arbitrary<UnicodeCase>[] = []
  const bodyFields = operation.body
    ? fieldsOf(operation.body).filter((field) => allowsString(field.schema))
    : []
  const queryFields = operation.query.filter((parameter) => allowsString(parameter.schema))
  const placed = (text: fc.Arbitrary<string>) => fc.tuple(text, fc.boolean(), fc.nat())
  if (bodyFields.length > 0) {
    cases.push(
      fc
        .tuple(fc.constantFrom(...bodyFields), placed(unicodeText))
        .map(([field, [text, alone, position]]): UnicodeCase => {
          const key = named(field.path)
          const rule = field.topLevel ? BODY_TEXT_RULES[key] : undefined
          const build = (spec: RequestSpec): string => {
            const current = getAt(jsonValue(spec), field.path)
            return alone || typeof current !== 'string' ? text : insertAt(current, position, text)
          }
          let sent = text
          return {
            label: `unicode in ${key}: ${JSON.stringify(text)}`,
            expect: NO_5XX,
            apply: (spec) => {
              sent = build(spec)
              return withJson(spec, setAt(jsonValue(spec), field.path, sent))
            },
            get cleaned() {
              return rule ? { key, text: sent, rule } : undefined
            },
          }
        }),
      fc
        .tuple(fc.constantFrom(...bodyFields), loneSurrogateEscape, fc.nat())
        .map(([field, escape, position]): UnicodeCase => ({
          label: `lone surrogate ${escape} in ${named(field.path)}, raw JSON`,
          expect: refused(400),
          apply: (spec) => {
            const current = getAt(jsonValue(spec), field.path)
            const text = typeof current === 'string' ? current : 'x'
            const marked = setAt(
              jsonValue(spec),
              field.path,
              insertAt(text, position, SURROGATE_MARK),
            )
            return withRaw(spec, JSON.stringify(marked).replace(SURROGATE_MARK, escape))
          },
        })),
    )
  }
  if (queryFields.length > 0) {
    cases.push(
      fc
        .tuple(fc.constantFrom(...queryFields), placed(unicodeText))
        .map(([parameter, [text, alone, position]]): UnicodeCase => {
          const rule = QUERY_TEXT_RULES[parameter.name]
          let sent = text
          return {
            label: `unicode in ${parameter.name}: ${JSON.stringify(text)}`,
            expect: NO_5XX,
            apply: (spec) => {
              const current = spec.query.find(([name]) => name === parameter.name)?.[1]
              sent = alone || current === undefined ? text : insertAt(current, position, text)
              return withQuery(spec, parameter.name, sent)
            },
            get cleaned() {
              return rule ? { key: parameter.name, text: sent, rule } : undefined
            },
          }
        }),
    )
  }
  return cases
}

/** The cleaned field as answered: in `customer`, `note` or `preferences`, or the echoed `query`. */
function answered(body: unknown, key: string): unknown {
  const answer = body as Record<string, Record<string, unknown> | undefined> | undefined
  if (key === 'q') return (answer as { query?: unknown } | undefined)?.query
  return answer?.customer?.[key] ?? answer?.note?.[key] ?? answer?.preferences?.[key]
}

async function checkUnicode(
  operation: Operation,
  draft: RequestSpec,
  unicode: UnicodeCase,
): Promise<void> {
  const spec = unicode.apply(await prepare(operation, draft, true))
  const before = unicode.expect.kind === 'refused' ? await fingerprint() : undefined
  const response = await send(operation, spec)
  const problems = problemsWith(operation, response, unicode.expect)
  if (before !== undefined && (await fingerprint()) !== before) {
    problems.push(`business ${BUSINESS}'s rows changed although the request was refused`)
  }
  const cleaned = unicode.cleaned
  if (cleaned && response.statusCode < 300) {
    const expected = cleanText(cleaned.text, cleaned.rule)
    const actual = answered(jsonOf(response), cleaned.key)
    if (expected !== '' && actual !== undefined && actual !== expected) {
      problems.push(
        `${cleaned.key} answered as ${JSON.stringify(actual)}, cleaned would be ${JSON.stringify(expected)}`,
      )
    }
  }
  if (problems.length > 0) throw failure(operation, spec, response, problems, unicode.label)
}

await t.test('unicode in every text field never gets a 5xx', async (t) => {
  t.comment(`${FORMAT_CHARACTERS.length} format characters (Cf) in the pool`)
  for (const [index, operation] of operations.entries()) {
    const cases = unicodeCases(operation)
    if (cases.length === 0) continue
    const draft = validDraft(operation).map((spec) => described(spec, describe(operation, spec)))
    await property(
      t,
      `${operation.id}: combining marks, format characters, astral characters, lone surrogates`,
      fc.tuple(
        draft,
        fc.oneof(...cases).map((unicode) => described(unicode, unicode.label)),
      ),
      ([spec, unicode]) => checkUnicode(operation, spec, unicode),
      UNICODE_RUNS,
      (SEED + 7919 + index * 32) % 2 ** 31,
    )
  }
  t.same(
    await businessRows(OTHER_BUSINESS),
    otherBusinessBefore,
    `business ${OTHER_BUSINESS}'s rows are unchanged after the unicode runs`,
  )
})

await t.test(
  'every path asked with a method it does not document is a 405 with Allow',
  async (t) => {
    const probes = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE'] as const
    for (const path of new Set(operations.map((operation) => operation.path))) {
      const documented = operations
        .filter((operation) => operation.path === path)
        .map((operation) => operation.method as string)
      const allow = [...documented, ...(documented.includes('GET') ? ['HEAD'] : [])].sort()
      const url = path
        .replace('{businessId}', String(BUSINESS))
        .replace('{customerId}', String(customers[0]!))
      for (const method of probes.filter((probe) => !documented.includes(probe))) {
        requests += 1
        const response = await server.app.inject({ method, url, headers: authFor(BUSINESS) })
        const name = `${method} ${path}`
        t.equal(response.statusCode, 405, `${name}: 405`)
        t.equal(response.headers.allow, allow.join(', '), `${name}: Allow ${allow.join(', ')}`)
        t.match(
          response.json(),
          { error: 'Method not allowed', request_id: response.headers['x-request-id'] },
          `${name}: the error shape`,
        )
      }
    }
  },
)

t.comment(`fuzz requests sent: ${requests} (seed ${SEED})`)
// A failed property stops at its counterexample, short of its runs: the count means something
// only when every property ran to the end.
if (failedProperties === 0) {
  t.ok(requests >= TOTAL_REQUESTS, `at least ${TOTAL_REQUESTS} fuzz requests sent (${requests})`)
} else {
  t.comment(`${failedProperties} properties failed early; request count not checked`)
}
