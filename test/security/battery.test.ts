/**
 * The security battery. Routes come from openapi/openapi.yaml; every case is a row of a table
 * and every assertion names its row.
 *
 * - every route × (no token, a forged token, a token for another business, a token for both
 *   businesses with the other business's customer in the path);
 * - JWTs: algorithm confusion (HS256 signed with the RSA public key), `alg: none`, other
 *   algorithms, wrong `iss` / `aud` when configured, expired, not yet valid;
 * - `__proto__` / `constructor` / `prototype` keys in bodies, deeply nested JSON, 1 MB strings;
 * - SQL metacharacters in every string field of every body and every string query parameter;
 * - header injection through `x-request-id`.
 */
import { createHmac, generateKeyPairSync, sign as signWithKey, type KeyObject } from 'node:crypto'
import { parse as parseCsv } from 'csv-parse/sync'
import type { InjectOptions, LightMyRequestResponse } from 'fastify'
import { sql } from 'kysely'
import t, { type Test } from 'tap'
import { createListCursorCodec, type ListPosition, type ListScope } from '../../lib/list-cursor.js'
import { loadOpenApiDocument } from '../../lib/openapi-document.js'
import { nowSeconds, signatureHeader } from '../../lib/webhook-signature.js'
import {
  authFor,
  bearer,
  build,
  tokenFor,
  TEST_CURSOR_SECRET,
  TEST_JWT_SECRET,
  TEST_WEBHOOK_SECRET,
  type TestServer,
} from '../helper.js'
import { signedEvent, type SaleEventBody } from '../sales-feed.js'
import { createCustomerId } from '../support/customers.js'
import { documentOperations } from '../support/openapi.js'

const BUSINESS = 5101
const OTHER_BUSINESS = 5102

// ---------------------------------------------------------------------------------------------
// Routes from the document.

interface Schema {
  $ref?: string
  type?: string | string[]
  properties?: Record<string, Schema>
  anyOf?: Schema[]
  oneOf?: Schema[]
  items?: Schema
  enum?: unknown[]
}

interface Parameter {
  name: string
  in: string
  required?: boolean
  example?: unknown
  schema?: Schema
}

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'

interface Route {
  id: string
  method: Method
  path: string
  parameters: Parameter[]
  /** The document's first example of the request body, if it takes one. */
  bodyExample?: Record<string, unknown>
  /** The document's example of a `text/csv` body (an import's file), if it takes one. */
  csvExample?: string
  bodySchema?: Schema
  documented: number[]
  success: number
  secured: boolean
  signed: boolean
}

/**
 * Answers of an allowed request that the document's example cannot make succeed here: its merge
 * sources and merge id name no row of this file's businesses. Past the checks of credentials and
 * tenancy the answer is the route's own (merge refused: 422; no such merge: 404), never a 401 or
 * 403; test/routes/api/customers/merge.test.ts covers the successes.
 */
const CONTROL_STATUS: Record<string, number> = {
  mergeCustomers: 422,
  undoMerge: 404,
  // No import of this file's businesses has the id the battery puts in the path.
  getImport: 404,
  getImportErrors: 404,
  // Nor a webhook endpoint: test/routes/api/customers/webhook-endpoints.test.ts covers those.
  getWebhookEndpoint: 404,
  updateWebhookEndpoint: 404,
  deleteWebhookEndpoint: 404,
  listWebhookDeliveries: 404,
}

const document = loadOpenApiDocument()

function resolve<T>(node: T | { $ref: string }): T {
  const ref = (node as { $ref?: unknown }).$ref
  if (typeof ref !== 'string') return node as T
  let target: unknown = document
  for (const key of ref.slice(2).split('/')) target = (target as Record<string, unknown>)[key]
  return resolve(target as T)
}

function resolveSchema(schema: Schema): Schema {
  const resolved = resolve<Schema>(schema)
  return {
    ...resolved,
    ...(resolved.properties
      ? {
          properties: Object.fromEntries(
            Object.entries(resolved.properties).map(([name, child]) => [
              name,
              resolveSchema(child),
            ]),
          ),
        }
      : {}),
    ...(resolved.anyOf ? { anyOf: resolved.anyOf.map(resolveSchema) } : {}),
    ...(resolved.oneOf ? { oneOf: resolved.oneOf.map(resolveSchema) } : {}),
  }
}

interface OperationObject {
  operationId: string
  parameters?: Parameter[]
  requestBody?: {
    content?: Record<
      string,
      { schema?: Schema; example?: unknown; examples?: Record<string, { value?: unknown }> }
    >
  }
  responses: Record<string, unknown>
  security?: unknown[]
}

function routesOf(): Route[] {
  return documentOperations<OperationObject>(document).map(
    ({ path, upperMethod, operation, parameters: unresolved, security }): Route => {
      const parameters = (unresolved as Parameter[]).map((parameter) => resolve(parameter))
      const json = operation.requestBody?.content?.['application/json']
      const csv = operation.requestBody?.content?.['text/csv']
      const example = json?.examples
        ? Object.values(json.examples)[0]?.value
        : (json?.example ?? undefined)
      const documented = Object.keys(operation.responses).map(Number)
      return {
        id: operation.operationId,
        method: upperMethod,
        path,
        parameters,
        ...(json ? { bodyExample: example as Record<string, unknown> } : {}),
        ...(typeof csv?.example === 'string' ? { csvExample: csv.example } : {}),
        ...(json?.schema ? { bodySchema: resolveSchema(json.schema) } : {}),
        documented,
        success:
          CONTROL_STATUS[operation.operationId] ??
          documented.find((status) => status >= 200 && status < 300) ??
          200,
        secured: security.length > 0,
        signed: parameters.some(
          (parameter) => parameter.in === 'header' && /^payme-signature$/i.test(parameter.name),
        ),
      }
    },
  )
}

const routes = routesOf()
const apiRoutes = routes.filter((route) => route.secured)
const label = (route: Route): string => `${route.id} (${route.method} ${route.path})`
const hasCustomerId = (route: Route): boolean => route.path.includes('{customerId}')

const typesOf = (schema: Schema): string[] =>
  schema.type === undefined ? [] : Array.isArray(schema.type) ? schema.type : [schema.type]
const allowsString = (schema: Schema): boolean =>
  typesOf(schema).includes('string') || (schema.anyOf ?? schema.oneOf ?? []).some(allowsString)

/** Paths of every string-valued field of a body schema, nested objects included. */
function stringFields(schema: Schema, prefix: string[] = []): string[][] {
  return Object.entries(schema.properties ?? {}).flatMap(([name, child]) => [
    ...(allowsString(child) ? [[...prefix, name]] : []),
    ...(child.properties ? stringFields(child, [...prefix, name]) : []),
  ])
}

const stringQueryParameters = (route: Route): Parameter[] =>
  route.parameters.filter(
    (parameter) => parameter.in === 'query' && allowsString(resolveSchema(parameter.schema ?? {})),
  )

function setAt(value: Record<string, unknown>, path: string[], next: unknown) {
  const copy = structuredClone(value)
  let node = copy
  for (const key of path.slice(0, -1)) node = node[key] as Record<string, unknown>
  node[path.at(-1)!] = next
  return copy
}

// ---------------------------------------------------------------------------------------------
// The app, two businesses, and requests.

/** Far above this file's traffic, whatever the helper's defaults become. */
const NO_RATE_LIMIT = { rateLimitMax: 1_000_000_000, rateLimitWebhookMax: 1_000_000_000 }

const server = await build(t, { config: NO_RATE_LIMIT })
const { db } = server.database

async function expectStatus(options: InjectOptions, status: number): Promise<unknown> {
  const response = await server.inject(options)
  if (response.statusCode !== status) {
    throw new Error(
      `setup ${options.method} ${options.url}: ${response.statusCode} ${response.body}`,
    )
  }
  return response.json()
}

let eventSequence = 0
const nextId = (prefix: string): string => `${prefix}-${process.pid}-${++eventSequence}`

function saleEvent(
  businessId: number,
  customerId: number,
  data: Record<string, unknown> = {},
): SaleEventBody {
  return {
    id: nextId('evt'),
    type: 'sale.completed',
    created_at: '2026-11-26T09:59:01Z',
    data: {
      sale_id: nextId('S'),
      business_id: businessId,
      customer_id: customerId,
      total_amount: '250.00',
      items_count: 2,
      payment_method: 'mpesa',
      completed_at: '2026-11-26T09:59:00Z',
      ...data,
    },
  }
}

const customer = await createCustomerId(server.inject, BUSINESS, {
  name: 'Wanjiru Kamau',
  phone: '0712 345 678',
})
// Names holding metacharacters: a search for one must match them literally, never as a pattern.
for (const name of ["Njeri O'Brien", '100% Juice', 'Under_score Ltd', 'Back\\slash', 'Dollar $1']) {
  await createCustomerId(server.inject, BUSINESS, { name })
}
// The other business has a customer the searches of the first would find, were they not scoped.
const otherCustomer = await createCustomerId(server.inject, OTHER_BUSINESS, {
  name: 'Wanjiru Secret',
  phone: '0722 000 111',
  email: 'secret@other.example',
})
await expectStatus(
  {
    method: 'POST',
    url: `/api/customers/${OTHER_BUSINESS}/${otherCustomer}/notes`,
    headers: authFor(OTHER_BUSINESS),
    payload: { content: 'Private note' },
  },
  201,
)
await expectStatus(signedEvent(saleEvent(OTHER_BUSINESS, otherCustomer)), 200)
await expectStatus(signedEvent(saleEvent(OTHER_BUSINESS, otherCustomer)), 200)

/** Every row of the other business, for comparison before and after. */
async function otherBusinessRows(): Promise<unknown> {
  const rows = {
    customers: await db
      .selectFrom('customers')
      .selectAll()
      .where('business_id', '=', OTHER_BUSINESS)
      .orderBy('id')
      .execute(),
    notes: await db
      .selectFrom('customer_notes')
      .selectAll()
      .where('business_id', '=', OTHER_BUSINESS)
      .orderBy('id')
      .execute(),
    preferences: await db
      .selectFrom('customer_preferences')
      .selectAll()
      .where('business_id', '=', OTHER_BUSINESS)
      .orderBy('id')
      .execute(),
    history: await db
      .selectFrom('customer_purchase_history')
      .selectAll()
      .where('business_id', '=', OTHER_BUSINESS)
      .orderBy('id')
      .execute(),
    sales: await db
      .selectFrom('customer_sales')
      .selectAll()
      .where('business_id', '=', OTHER_BUSINESS)
      .orderBy('sale_id')
      .execute(),
    events: await db
      .selectFrom('sales_events')
      .selectAll()
      .where('business_id', '=', OTHER_BUSINESS)
      .orderBy('event_id')
      .execute(),
    consents: await db
      .selectFrom('customer_consents')
      .selectAll()
      .where('business_id', '=', OTHER_BUSINESS)
      .orderBy('id')
      .execute(),
  }
  return JSON.parse(JSON.stringify(rows)) as unknown
}

const customerCount = async (): Promise<number> => {
  const result = await sql<{
    count: string | number
  }>`select count(*) as count from customers`.execute(db)
  return Number(result.rows[0]?.count)
}

interface Parts {
  businessId?: number | string
  customerId?: number | string
  mergeId?: number | string
  importId?: number | string
  endpointId?: number | string
  headers?: Record<string, string>
  query?: Record<string, string>
  /** A JSON body (serialised here), or raw text. */
  body?: unknown
  raw?: string
}

/** A request for a route, by default the document's own example, for the business under test. */
function requestFor(route: Route, parts: Parts = {}): InjectOptions {
  const path = route.path
    .replace('{businessId}', encodeURIComponent(String(parts.businessId ?? BUSINESS)))
    .replace('{customerId}', encodeURIComponent(String(parts.customerId ?? customer)))
    // No merge of this file's businesses has this id (see CONTROL_STATUS).
    .replace('{mergeId}', encodeURIComponent(String(parts.mergeId ?? 999_999_999)))
    .replace('{importId}', encodeURIComponent(String(parts.importId ?? 999_999_999)))
    .replace('{endpointId}', encodeURIComponent(String(parts.endpointId ?? 999_999_999)))
  // A path parameter this function does not know yet would be sent as its literal name.
  if (/[{}]/.test(path)) throw new Error(`requestFor: a path parameter left in ${path}`)
  const query = new URLSearchParams(parts.query ?? requiredQuery(route)).toString()
  const url = query ? `${path}?${query}` : path
  const headers: Record<string, string> = { ...(parts.headers ?? {}) }
  let payload: string | undefined = parts.raw
  if (payload === undefined && parts.body === undefined && route.csvExample !== undefined) {
    payload = route.csvExample
    headers['content-type'] ??= 'text/csv'
  }
  if (payload === undefined && (parts.body !== undefined || route.bodyExample !== undefined)) {
    payload = JSON.stringify(parts.body ?? exampleBody(route))
  }
  if (payload !== undefined) headers['content-type'] ??= 'application/json'
  if (route.signed && payload !== undefined && headers['payme-signature'] === undefined) {
    headers['payme-signature'] = signatureHeader(TEST_WEBHOOK_SECRET, payload)
  }
  return { method: route.method, url, headers, ...(payload === undefined ? {} : { payload }) }
}

function requiredQuery(route: Route): Record<string, string> {
  return Object.fromEntries(
    route.parameters
      .filter((parameter) => parameter.in === 'query' && parameter.required)
      .map((parameter) => [parameter.name, String(parameter.example ?? 'x')]),
  )
}

/** The document's example body; the sales feed's is pointed at this file's business and customer. */
function exampleBody(route: Route): Record<string, unknown> {
  if (!route.bodyExample) throw new Error(`${route.id} has no request example in the document`)
  if (!route.signed) return structuredClone(route.bodyExample)
  const event = structuredClone(route.bodyExample) as unknown as SaleEventBody
  return {
    ...event,
    id: nextId('evt'),
    data: { ...event.data, sale_id: nextId('S'), business_id: BUSINESS, customer_id: customer },
  }
}

const errorOf = (
  response: LightMyRequestResponse,
): { error?: unknown; message?: unknown; request_id?: unknown } =>
  String(response.headers['content-type'] ?? '').startsWith('application/json')
    ? (response.json() as { error?: unknown; message?: unknown; request_id?: unknown })
    : {}

/** A JSON body, or a CSV file (the export) as its rows with numbers for ids. */
function bodyOf(response: LightMyRequestResponse): unknown {
  if (!String(response.headers['content-type'] ?? '').startsWith('text/csv')) return response.json()
  // The export's columns do not include the business (its rows are checked by their text).
  return parseCsv(response.body, { bom: true, columns: true }) as Record<string, string>[]
}

/** Values of `business_id` anywhere in a body. */
function businessIdsIn(value: unknown): unknown[] {
  if (Array.isArray(value)) return value.flatMap(businessIdsIn)
  if (typeof value !== 'object' || value === null) return []
  return Object.entries(value).flatMap(([key, child]) =>
    key === 'business_id' ? [child] : businessIdsIn(child),
  )
}

const inject = server.inject

// ---------------------------------------------------------------------------------------------
// Every route × credentials and tenancy.

interface AccessCase {
  name: string
  parts: Parts
  status: number
  error?: string
  /** A 2xx whose rows must all belong to the business in the path. */
  ownRowsOnly?: boolean
}

function accessCases(route: Route): AccessCase[] {
  const cases: AccessCase[] = [
    { name: 'no token', parts: {}, status: 401, error: 'Authentication required' },
    {
      name: 'a token signed with another secret',
      parts: { headers: bearer(tokenFor({ businesses: [BUSINESS] }, 'not-the-secret-'.repeat(3))) },
      status: 401,
      error: 'Authentication failed',
    },
    {
      name: `a token for business ${OTHER_BUSINESS} only`,
      parts: { headers: authFor(OTHER_BUSINESS) },
      status: 403,
      error: 'Access denied',
    },
    {
      name: `a token for business ${OTHER_BUSINESS} only, in the cookie`,
      parts: { headers: { cookie: `token=${tokenFor({ businesses: [OTHER_BUSINESS] })}` } },
      status: 403,
      error: 'Access denied',
    },
  ]
  if (hasCustomerId(route)) {
    cases.push({
      name: `a token for both businesses, the customer of business ${OTHER_BUSINESS} in the path`,
      parts: { headers: authFor(BUSINESS, OTHER_BUSINESS), customerId: otherCustomer },
      status: 404,
      error: 'Customer not found',
    })
  } else {
    cases.push({
      name: 'a token for both businesses: only the rows of the business in the path',
      parts: { headers: authFor(BUSINESS, OTHER_BUSINESS) },
      status: route.success,
      ownRowsOnly: true,
    })
  }
  cases.push({
    name: 'control: a token for the business',
    parts: { headers: authFor(BUSINESS) },
    status: route.success,
  })
  return cases
}

t.test('every route × credentials and tenancy', async (t) => {
  t.ok(apiRoutes.length >= 13, `the document lists the API's routes (${apiRoutes.length})`)
  for (const route of apiRoutes) {
    for (const row of accessCases(route)) {
      const name = `${label(route)} × ${row.name}`
      const before = await otherBusinessRows()
      const response = await inject(requestFor(route, row.parts))
      t.equal(response.statusCode, row.status, `${name}: status`)
      if (row.error) t.equal(errorOf(response).error, row.error, `${name}: error title`)
      if (row.ownRowsOnly) {
        const foreign = businessIdsIn(bodyOf(response)).filter((id) => id !== BUSINESS)
        t.same(foreign, [], `${name}: no row of business ${OTHER_BUSINESS}`)
        t.notMatch(
          response.body,
          /Wanjiru Secret|secret@other/,
          `${name}: nothing of the other business in the body`,
        )
      }
      t.same(
        await otherBusinessRows(),
        before,
        `${name}: business ${OTHER_BUSINESS}'s rows unchanged`,
      )
    }
  }
})

t.test('public routes answer without a token; the sales feed wants its signature', async (t) => {
  for (const route of routes.filter((candidate) => !candidate.secured)) {
    if (route.signed) {
      const before = await otherBusinessRows()
      const cases: { name: string; options: InjectOptions; status: number }[] = [
        {
          name: 'no signature',
          options: { ...requestFor(route), headers: { 'content-type': 'application/json' } },
          status: 401,
        },
        {
          name: 'signed with another secret',
          options: ((raw: string) =>
            requestFor(route, {
              raw,
              headers: { 'payme-signature': signatureHeader('another-secret-entirely', raw) },
            }))(JSON.stringify(exampleBody(route))),
          status: 401,
        },
        {
          name: `an event for business ${BUSINESS} naming the customer of business ${OTHER_BUSINESS}`,
          options: signedEvent(saleEvent(BUSINESS, otherCustomer)),
          status: 422,
        },
        {
          name: `an event for business ${OTHER_BUSINESS} naming a customer of business ${BUSINESS}`,
          options: signedEvent(saleEvent(OTHER_BUSINESS, customer)),
          status: 422,
        },
        {
          name: 'control: the document example, signed',
          options: requestFor(route),
          status: route.success,
        },
      ]
      for (const row of cases) {
        const response = await inject(row.options)
        t.equal(response.statusCode, row.status, `${label(route)} × ${row.name}: status`)
      }
      t.same(
        await otherBusinessRows(),
        before,
        `${label(route)}: business ${OTHER_BUSINESS}'s rows unchanged`,
      )
      continue
    }
    const response = await inject(requestFor(route))
    t.equal(response.statusCode, route.success, `${label(route)} × no token: ${route.success}`)
  }
})

// ---------------------------------------------------------------------------------------------
// JWTs.

const encode = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')

type Signer = (input: string) => string
const hmac =
  (algorithm: 'sha256' | 'sha384' | 'sha512', key: string | Buffer): Signer =>
  (input) =>
    createHmac(algorithm, key).update(input).digest('base64url')
const rsa =
  (key: KeyObject | string): Signer =>
  (input) =>
    signWithKey('sha256', Buffer.from(input), key).toString('base64url')
const ecdsa =
  (key: KeyObject): Signer =>
  (input) =>
    signWithKey('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }).toString(
      'base64url',
    )

function jwt(
  header: Record<string, unknown>,
  claims: Record<string, unknown>,
  signer?: Signer,
): string {
  const input = `${encode(header)}.${encode(claims)}`
  return `${input}.${signer ? signer(input) : ''}`
}

const claims = (overrides: Record<string, unknown> = {}): Record<string, unknown> => {
  const now = nowSeconds()
  return { sub: 1, businesses: [BUSINESS], iat: now, exp: now + 3600, ...overrides }
}

interface TokenCase {
  name: string
  token: string
  /** true: the control, accepted; otherwise a 401 "Authentication failed". */
  accepted?: boolean
}

/** Each token on a read (list customers) and a write (create customer); no refused write stores. */
async function checkTokens(
  t: Test,
  inject: TestServer['inject'],
  cases: TokenCase[],
): Promise<void> {
  const list = routes.find((route) => route.id === 'listCustomers')!
  const create = routes.find((route) => route.id === 'createCustomer')!
  const before = await customerCount()
  let created = 0
  for (const row of cases) {
    for (const route of [list, create]) {
      const name = `${row.name} → ${route.id}`
      const response = await inject(requestFor(route, { headers: bearer(row.token) }))
      if (row.accepted) {
        t.equal(response.statusCode, route.success, `${name}: accepted`)
        if (response.statusCode === 201) created += 1
        continue
      }
      t.equal(response.statusCode, 401, `${name}: 401`)
      t.same(
        { error: errorOf(response).error, message: errorOf(response).message },
        { error: 'Authentication failed', message: 'Invalid or expired token' },
        `${name}: error body`,
      )
    }
  }
  t.equal(await customerCount(), before + created, 'only the accepted tokens created customers')
}

const otherRsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
const someEc = generateKeyPairSync('ec', { namedCurve: 'P-256' })

t.test('JWT: HS256 with the shared secret', async (t) => {
  const secret = hmac('sha256', TEST_JWT_SECRET)
  const hs256 = { alg: 'HS256', typ: 'JWT' }
  const valid = jwt(hs256, claims(), secret)
  const [validHeader, , validSignature] = valid.split('.')
  await checkTokens(t, server.inject, [
    { name: 'control: HS256, valid', token: valid, accepted: true },
    { name: 'alg none, no signature', token: jwt({ alg: 'none', typ: 'JWT' }, claims()) },
    { name: 'alg None', token: jwt({ alg: 'None' }, claims()) },
    { name: 'alg NONE', token: jwt({ alg: 'NONE' }, claims()) },
    { name: 'alg nOnE', token: jwt({ alg: 'nOnE' }, claims()) },
    {
      name: 'alg none with the HS256 signature kept',
      token: jwt({ alg: 'none' }, claims(), secret),
    },
    { name: 'no alg at all', token: jwt({ typ: 'JWT' }, claims(), secret) },
    { name: 'HS256 header, no signature', token: jwt(hs256, claims()) },
    {
      name: 'HS384 signed with the secret',
      token: jwt({ alg: 'HS384' }, claims(), hmac('sha384', TEST_JWT_SECRET)),
    },
    {
      name: 'HS512 signed with the secret',
      token: jwt({ alg: 'HS512' }, claims(), hmac('sha512', TEST_JWT_SECRET)),
    },
    {
      name: 'HS256 header, HS512 signature',
      token: jwt(hs256, claims(), hmac('sha512', TEST_JWT_SECRET)),
    },
    {
      name: 'RS256 signed with some RSA key',
      token: jwt({ alg: 'RS256' }, claims(), rsa(otherRsa.privateKey)),
    },
    {
      name: 'ES256 signed with some EC key',
      token: jwt({ alg: 'ES256' }, claims(), ecdsa(someEc.privateKey)),
    },
    {
      name: 'claims widened after signing',
      token: `${validHeader}.${encode(claims({ businesses: [BUSINESS, OTHER_BUSINESS, 1] }))}.${validSignature}`,
    },
    {
      name: 'signed with another secret',
      token: jwt(hs256, claims(), hmac('sha256', 'another-secret-that-is-long-enough')),
    },
    { name: 'expired a minute ago', token: jwt(hs256, claims({ exp: nowSeconds() - 60 }), secret) },
    {
      name: 'expired in 2001',
      token: jwt(hs256, claims({ iat: 978_307_200, exp: 978_310_800 }), secret),
    },
    { name: 'no exp', token: jwt(hs256, { sub: 1, businesses: [BUSINESS] }, secret) },
    { name: 'exp not a number', token: jwt(hs256, claims({ exp: 'tomorrow' }), secret) },
    {
      name: 'not valid before an hour from now (nbf)',
      token: jwt(hs256, claims({ nbf: nowSeconds() + 3600 }), secret),
    },
    {
      name: 'not valid before tomorrow (nbf)',
      token: jwt(hs256, claims({ nbf: nowSeconds() + 86_400 }), secret),
    },
    { name: 'sub not an id', token: jwt(hs256, claims({ sub: 'admin' }), secret) },
    {
      name: 'businesses not an array',
      token: jwt(hs256, claims({ businesses: BUSINESS }), secret),
    },
    {
      name: 'businesses holding a non-id',
      token: jwt(hs256, claims({ businesses: [BUSINESS, '1 OR 1=1'] }), secret),
    },
    { name: 'four parts', token: `${valid}.extra` },
    { name: 'garbage', token: 'not-a-token' },
  ])
})

t.test('JWT: RS256 with JWT_PUBLIC_KEY', async (t) => {
  const pair = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const publicKey = pair.publicKey.export({ type: 'spki', format: 'pem' }).toString()
  const publicDer = pair.publicKey.export({ type: 'spki', format: 'der' })
  const { inject } = await build(t, {
    config: { ...NO_RATE_LIMIT, jwt: { kind: 'public-key', publicKey } },
  })
  const rs256 = { alg: 'RS256', typ: 'JWT' }
  await checkTokens(t, inject, [
    {
      name: 'control: RS256 signed with the private key',
      token: jwt(rs256, claims(), rsa(pair.privateKey)),
      accepted: true,
    },
    {
      name: 'algorithm confusion: HS256 signed with the PEM public key',
      token: jwt({ alg: 'HS256', typ: 'JWT' }, claims(), hmac('sha256', publicKey)),
    },
    {
      name: 'algorithm confusion: HS256 signed with the PEM, trimmed',
      token: jwt({ alg: 'HS256', typ: 'JWT' }, claims(), hmac('sha256', publicKey.trim())),
    },
    {
      name: 'algorithm confusion: HS256 signed with the DER public key',
      token: jwt({ alg: 'HS256', typ: 'JWT' }, claims(), hmac('sha256', publicDer)),
    },
    {
      name: 'algorithm confusion: HS512 signed with the PEM public key',
      token: jwt({ alg: 'HS512' }, claims(), hmac('sha512', publicKey)),
    },
    { name: 'alg none', token: jwt({ alg: 'none' }, claims()) },
    {
      name: 'RS256 signed with another RSA key',
      token: jwt(rs256, claims(), rsa(otherRsa.privateKey)),
    },
    {
      name: 'ES256 signed with some EC key',
      token: jwt({ alg: 'ES256' }, claims(), ecdsa(someEc.privateKey)),
    },
    {
      name: 'RS256, expired',
      token: jwt(rs256, claims({ exp: nowSeconds() - 60 }), rsa(pair.privateKey)),
    },
    {
      name: 'RS256, not valid before an hour from now (nbf)',
      token: jwt(rs256, claims({ nbf: nowSeconds() + 3600 }), rsa(pair.privateKey)),
    },
    {
      name: 'RS256, no exp',
      token: jwt(rs256, { sub: 1, businesses: [BUSINESS] }, rsa(pair.privateKey)),
    },
  ])
})

t.test('JWT: iss and aud, when configured', async (t) => {
  const issuer = 'https://auth.payme.example'
  const audience = 'payme-customers'
  const { inject } = await build(t, {
    config: { ...NO_RATE_LIMIT, jwtIssuer: issuer, jwtAudience: audience },
  })
  const sign = (overrides: Record<string, unknown>): string =>
    jwt(
      { alg: 'HS256', typ: 'JWT' },
      claims({ iss: issuer, aud: audience, ...overrides }),
      hmac('sha256', TEST_JWT_SECRET),
    )
  const without = (name: 'iss' | 'aud'): string => {
    const body = claims({ iss: issuer, aud: audience })
    Reflect.deleteProperty(body, name)
    return jwt({ alg: 'HS256', typ: 'JWT' }, body, hmac('sha256', TEST_JWT_SECRET))
  }
  await checkTokens(t, inject, [
    { name: 'control: the configured iss and aud', token: sign({}), accepted: true },
    {
      name: 'control: aud a list holding the configured one',
      token: sign({ aud: ['other', audience] }),
      accepted: true,
    },
    { name: 'wrong iss', token: sign({ iss: 'https://evil.example' }) },
    { name: 'iss with a trailing slash', token: sign({ iss: `${issuer}/` }) },
    { name: 'iss in other case', token: sign({ iss: issuer.toUpperCase() }) },
    { name: 'no iss', token: without('iss') },
    { name: 'wrong aud', token: sign({ aud: 'payme-admin' }) },
    {
      name: 'aud a list without the configured one',
      token: sign({ aud: ['payme-admin', 'other'] }),
    },
    { name: 'no aud', token: without('aud') },
    { name: 'wrong iss and aud', token: sign({ iss: 'x', aud: 'y' }) },
    { name: 'right iss and aud, expired', token: sign({ exp: nowSeconds() - 60 }) },
    { name: 'right iss and aud, not yet valid', token: sign({ nbf: nowSeconds() + 3600 }) },
    {
      name: 'a token without iss and aud from the helper',
      token: tokenFor({ businesses: [BUSINESS] }),
    },
  ])
})

// ---------------------------------------------------------------------------------------------
// Bodies: prototype pollution, depth, size.

const bodyRoutes = routes.filter((route) => route.bodyExample !== undefined)
const headersFor = (route: Route): Record<string, string> =>
  route.secured ? authFor(BUSINESS) : {}

/** A raw body: the route's example with `injection` spliced in as its first member. */
function spliced(route: Route, injection: string): string {
  const text = JSON.stringify(exampleBody(route))
  return `{${injection},${text.slice(1)}`
}

/** A raw body: the example with one field's value replaced by raw JSON text. */
function withRawField(route: Route, field: string[], rawValue: string): string {
  const marker = '\u0001MARKER\u0001'
  return JSON.stringify(setAt(exampleBody(route), field, marker)).replace(
    JSON.stringify(marker),
    rawValue,
  )
}

t.test('__proto__, constructor and prototype keys: 400 and no pollution', async (t) => {
  const before = await customerCount()
  for (const route of bodyRoutes) {
    const firstField = Object.keys(exampleBody(route))[0]!
    const cases: { name: string; raw: string }[] = [
      { name: '__proto__ at the top', raw: spliced(route, '"__proto__":{"polluted":"yes"}') },
      {
        name: 'constructor.prototype at the top',
        raw: spliced(route, '"constructor":{"prototype":{"polluted":"yes"}}'),
      },
      {
        name: '__proto__ escaped as \\u005f\\u005fproto\\u005f\\u005f',
        raw: spliced(route, '"\\u005f\\u005fproto\\u005f\\u005f":{"polluted":"yes"}'),
      },
      {
        name: 'constructor escaped',
        raw: spliced(route, '"\\u0063onstructor":{"prototype":{"polluted":"yes"}}'),
      },
      {
        name: `__proto__ inside ${firstField}`,
        raw: withRawField(route, [firstField], '{"__proto__":{"polluted":"yes"}}'),
      },
      {
        name: `constructor.prototype inside ${firstField}`,
        raw: withRawField(route, [firstField], '{"constructor":{"prototype":{"polluted":"yes"}}}'),
      },
      {
        name: '__proto__ deep in an array',
        raw: spliced(route, '"x":[[{"__proto__":{"polluted":"yes"}}]]'),
      },
      { name: 'prototype at the top', raw: spliced(route, '"prototype":{"polluted":"yes"}') },
      { name: 'constructor at the top, a string', raw: spliced(route, '"constructor":"polluted"') },
      {
        name: '__proto__ twice',
        raw: spliced(route, '"__proto__":{"polluted":"yes"},"__proto__":{"polluted":"yes"}'),
      },
    ]
    if (route.signed) {
      cases.push({
        name: '__proto__ inside data',
        raw: JSON.stringify(exampleBody(route)).replace(
          '"sale_id":',
          '"__proto__":{"polluted":"yes"},"sale_id":',
        ),
      })
    }
    for (const row of cases) {
      const name = `${label(route)} × ${row.name}`
      const response = await inject(requestFor(route, { raw: row.raw, headers: headersFor(route) }))
      t.equal(response.statusCode, 400, `${name}: 400`)
      t.equal(errorOf(response).error, 'Validation failed', `${name}: Validation failed`)
      t.equal(
        ({} as Record<string, unknown>).polluted,
        undefined,
        `${name}: Object.prototype not polluted`,
      )
    }
  }
  t.notOk(
    Object.prototype.hasOwnProperty.call(Object.prototype, 'polluted'),
    'Object.prototype has no `polluted`',
  )
  t.equal(
    ({} as Record<string, unknown>).polluted,
    undefined,
    '{}.polluted is undefined after every case',
  )
  t.equal(await customerCount(), before, 'no customer was created by a refused body')
  const list = await inject(
    requestFor(
      routes.find((route) => route.id === 'listCustomers')!,
      { headers: authFor(BUSINESS) },
    ),
  )
  t.equal(list.statusCode, 200, 'the service still answers')
  t.notMatch(list.body, /polluted/, 'nothing polluted reaches a response')
})

t.test('deeply nested JSON: a 4xx, never a crash or a 5xx', async (t) => {
  const nestedArrays = (depth: number): string => `${'['.repeat(depth)}${']'.repeat(depth)}`
  const nestedObjects = (depth: number): string => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`
  for (const route of bodyRoutes) {
    const firstField = Object.keys(exampleBody(route))[0]!
    const cases: { name: string; raw: string }[] = [
      { name: '10,000 nested arrays as the body', raw: nestedArrays(10_000) },
      { name: '30,000 nested arrays as the body', raw: nestedArrays(30_000) },
      {
        name: `10,000 nested objects in ${firstField}`,
        raw: withRawField(route, [firstField], nestedObjects(10_000)),
      },
      {
        name: `10,000 nested arrays in ${firstField}`,
        raw: withRawField(route, [firstField], nestedArrays(10_000)),
      },
      {
        name: '100,000 nested arrays as the body (past the size limit)',
        raw: nestedArrays(100_000),
      },
      { name: '10,000 unclosed brackets', raw: '['.repeat(10_000) },
    ]
    for (const row of cases) {
      const name = `${label(route)} × ${row.name}`
      const response = await inject(requestFor(route, { raw: row.raw, headers: headersFor(route) }))
      t.ok(
        response.statusCode >= 400 && response.statusCode < 500,
        `${name}: a 4xx (got ${response.statusCode})`,
      )
      t.ok(route.documented.includes(response.statusCode), `${name}: a documented status`)
    }
  }
  const health = await inject({ method: 'GET', url: '/health' })
  t.equal(health.statusCode, 200, 'the process is still up')
})

t.test('1 MB strings: 413', async (t) => {
  const before = await customerCount()
  const megabyte = 'x'.repeat(1024 * 1024)
  for (const route of bodyRoutes) {
    for (const field of stringFields(route.bodySchema ?? {})) {
      const name = `${label(route)} × 1 MB in ${field.join('.')}`
      const response = await inject(
        requestFor(route, {
          body: setAt(exampleBody(route), field, megabyte),
          headers: headersFor(route),
        }),
      )
      t.equal(response.statusCode, 413, `${name}: 413`)
      t.equal(errorOf(response).error, 'Payload too large', `${name}: Payload too large`)
    }
  }
  for (const route of apiRoutes) {
    for (const parameter of stringQueryParameters(route)) {
      const name = `${label(route)} × 1 MB in the query parameter ${parameter.name}`
      const response = await inject(
        requestFor(route, {
          headers: authFor(BUSINESS),
          query: { ...requiredQuery(route), [parameter.name]: megabyte },
        }),
      )
      t.ok(
        response.statusCode >= 400 && response.statusCode < 500,
        `${name}: a 4xx (got ${response.statusCode})`,
      )
    }
  }
  t.equal(await customerCount(), before, 'nothing was created')
})

// ---------------------------------------------------------------------------------------------
// SQL metacharacters.

const METACHARACTERS = [
  "' OR 1=1 --",
  '"; drop table customers; --',
  '\\',
  '%',
  '_',
  '$1',
  "'; delete from customers where ''='",
  '%_%',
  "\\'",
  '1) or (1=1',
  '$$; drop table customers; $$',
  "Robert'); DROP TABLE customers;--",
  // PostgreSQL text cannot hold NUL: the service must refuse it, not fail on it.
  'nul\u0000byte',
]

t.test('SQL metacharacters in every string field and query parameter', async (t) => {
  const before = await customerCount()
  const otherBefore = await otherBusinessRows()
  let created = 0
  const createdNames = new Set<string>()
  for (const route of bodyRoutes) {
    for (const field of stringFields(route.bodySchema ?? {})) {
      for (const text of METACHARACTERS) {
        const name = `${label(route)} × ${field.join('.')} = ${JSON.stringify(text)}`
        const body = setAt(exampleBody(route), field, text)
        const response = await inject(requestFor(route, { body, headers: headersFor(route) }))
        t.ok(response.statusCode < 500, `${name}: no 5xx (got ${response.statusCode})`)
        t.ok(route.documented.includes(response.statusCode), `${name}: a documented status`)
        if (response.statusCode === 201 && route.id === 'createCustomer') {
          created += 1
          if (field.join('.') === 'name') createdNames.add(text.trim())
        }
        if (
          response.statusCode < 300 &&
          !route.signed &&
          field.length === 1 &&
          field[0] !== 'phone'
        ) {
          // What was stored is exactly what was sent (trimmed): the text was a value, not SQL.
          const echoed = JSON.stringify(response.json()).includes(
            JSON.stringify(text.trim()).slice(1, -1),
          )
          t.ok(echoed, `${name}: answered with the text as sent`)
        }
        if (response.statusCode === 200 && route.signed && field.join('.') === 'data.sale_id') {
          const sale = await db
            .selectFrom('customer_sales')
            .select('sale_id')
            .where('business_id', '=', BUSINESS)
            .where('sale_id', '=', text)
            .executeTakeFirst()
          t.equal(sale?.sale_id, text, `${name}: stored as sent`)
        }
      }
    }
  }
  for (const route of apiRoutes) {
    for (const parameter of stringQueryParameters(route)) {
      for (const text of METACHARACTERS) {
        const name = `${label(route)} × ?${parameter.name}=${JSON.stringify(text)}`
        const response = await inject(
          requestFor(route, {
            headers: authFor(BUSINESS),
            query: { ...requiredQuery(route), [parameter.name]: text },
          }),
        )
        t.ok(response.statusCode < 500, `${name}: no 5xx (got ${response.statusCode})`)
        t.ok(route.documented.includes(response.statusCode), `${name}: a documented status`)
        if (
          route.id === 'searchCustomers' &&
          parameter.name === 'q' &&
          response.statusCode === 200
        ) {
          const { results } = response.json() as {
            results: { name: string; email: string | null }[]
          }
          const needle = text.trim().toLowerCase()
          if (createdNames.has(text.trim())) {
            t.ok(results.length > 0, `${name}: finds the customer named with it`)
          }
          t.ok(
            results.every((row) => `${row.name} ${row.email ?? ''}`.toLowerCase().includes(needle)),
            `${name}: every result contains the text literally (no wildcard, no injection)`,
          )
        }
      }
    }
    if (
      route.parameters.some((parameter) => parameter.in === 'query' && parameter.name === 'after')
    ) {
      // Signed with the server's own key, as if the key leaked: the text inside reaches the key
      // checks, and past them (a name key) SQL, only ever as a parameter.
      const cursors = createListCursorCodec([TEST_CURSOR_SECRET])
      const sortBy = route.parameters.find((parameter) => parameter.name === 'sort_by')
      const orders = (resolveSchema(sortBy?.schema ?? {}).enum ?? ['created_at']).map(String)
      for (const order of orders) {
        for (const text of METACHARACTERS) {
          const name = `${label(route)} × sort_by=${order}, a cursor whose key is ${JSON.stringify(text)}`
          const scope = {
            sortBy: order,
            sortOrder: 'desc',
            isActive: true,
            customerType: null,
          } as ListScope
          const cursor = cursors.encode(BUSINESS, scope, { key: text, id: 1 } as ListPosition)
          const response = await inject(
            requestFor(route, {
              headers: authFor(BUSINESS),
              query: { sort_by: order, after: cursor },
            }),
          )
          t.ok(response.statusCode < 500, `${name}: no 5xx (got ${response.statusCode})`)
          t.ok(route.documented.includes(response.statusCode), `${name}: a documented status`)
        }
      }
    }
    for (const parameter of route.parameters.filter((candidate) => candidate.in === 'path')) {
      for (const text of METACHARACTERS) {
        const name = `${label(route)} × ${parameter.name} = ${JSON.stringify(text)}`
        const target = { [parameter.name]: text } as Pick<
          Parts,
          'businessId' | 'customerId' | 'mergeId' | 'importId' | 'endpointId'
        >
        const response = await inject(requestFor(route, { headers: authFor(BUSINESS), ...target }))
        t.equal(response.statusCode, 400, `${name}: 400`)
      }
    }
  }
  const tables = await sql<{
    name: string | null
  }>`select to_regclass('customers')::text as name`.execute(db)
  t.equal(tables.rows[0]?.name, 'customers', 'the customers table still exists')
  t.equal(await customerCount(), before + created, 'customers: only the intended inserts were made')
  t.same(await otherBusinessRows(), otherBefore, `business ${OTHER_BUSINESS}'s rows unchanged`)
})

// ---------------------------------------------------------------------------------------------
// x-request-id.

const SAFE_REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/

t.test('x-request-id: injected text never reaches the response headers', async (t) => {
  const list = routes.find((route) => route.id === 'listCustomers')!
  const webhook = routes.find((route) => route.signed)!
  const targets: { name: string; options: InjectOptions }[] = [
    { name: 'a 200', options: requestFor(list, { headers: authFor(BUSINESS) }) },
    { name: 'a 401', options: requestFor(list) },
    {
      name: 'a 400',
      options: requestFor(list, { headers: authFor(BUSINESS), query: { limit: '0' } }),
    },
    { name: 'a 404', options: { method: 'GET', url: '/nowhere' } },
    {
      name: 'the sales feed, unsigned',
      options: { ...requestFor(webhook), headers: { 'content-type': 'application/json' } },
    },
    { name: 'the liveness probe', options: { method: 'GET', url: '/health' } },
  ]
  const cases: { name: string; value: string; kept?: boolean }[] = [
    { name: 'control: a safe id is kept', value: 'req-123_ABC.x', kept: true },
    { name: 'control: 64 characters are kept', value: 'a'.repeat(64), kept: true },
    { name: 'CRLF and a header', value: 'abc\r\nx-injected: yes' },
    { name: 'LF and a header', value: 'abc\nx-injected: yes' },
    { name: 'CR and a header', value: 'abc\rx-injected: yes' },
    { name: 'CRLF CRLF and a body', value: 'abc\r\n\r\n<html>injected</html>' },
    { name: 'encoded CRLF', value: 'abc%0d%0ax-injected:%20yes' },
    { name: 'NUL', value: 'abc\u0000def' },
    { name: '65 characters', value: 'a'.repeat(65) },
    { name: '10,000 characters', value: 'a'.repeat(10_000) },
    { name: 'Latin-1 letters', value: 'r\u00e9quest-\u00efd' },
    { name: 'non-Latin-1 text', value: 'ombi-\u6587-\u{1f600}' },
    { name: 'HTML', value: '<script>alert(1)</script>' },
    { name: 'spaces', value: 'a b' },
    { name: 'an empty value', value: '' },
    { name: 'separators', value: 'a;b=c,d' },
  ]
  for (const target of targets) {
    for (const row of cases) {
      const name = `${target.name} × ${row.name}`
      const response = await inject({
        ...target.options,
        headers: {
          ...(target.options.headers as Record<string, string> | undefined),
          'x-request-id': row.value,
        },
      })
      const id = response.headers['x-request-id']
      t.type(id, 'string', `${name}: an x-request-id`)
      if (row.kept) t.equal(id, row.value, `${name}: kept as sent`)
      else {
        t.match(String(id), SAFE_REQUEST_ID, `${name}: a safe id`)
        t.not(id, row.value, `${name}: not the one sent`)
      }
      t.notOk('x-injected' in response.headers, `${name}: no injected header`)
      const values = Object.values(response.headers).flat().map(String)
      t.notOk(
        values.some(
          (value) => value.includes('\r') || value.includes('\n') || value.includes('\0'),
        ),
        `${name}: no header value holds CR, LF or NUL`,
      )
      const body = errorOf(response)
      if (response.statusCode >= 400)
        t.equal(body.request_id, id, `${name}: request_id is the header's`)
      t.notMatch(response.body, /injected/, `${name}: nothing injected in the body`)
    }
  }
})
