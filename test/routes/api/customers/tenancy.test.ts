import type { InjectOptions, LightMyRequestResponse } from 'fastify'
import { sql } from 'kysely'
import t, { type Test } from 'tap'
import { loadOpenApiDocument } from '../../../../lib/openapi-document.js'
import { authFor, fileServer, type TestServer } from '../../../helper.js'
import { createCustomerId } from '../../../support/customers.js'
import { documentOperations } from '../../../support/openapi.js'

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'

interface DocumentOperation {
  operationId: string
  method: Method
  path: string
  hasCustomerId: boolean
  hasEndpointId: boolean
}

/** Every operation the contract serves under /api/customers, read from the document. */
function customerOperations(): DocumentOperation[] {
  return documentOperations<{ operationId?: unknown }>(loadOpenApiDocument())
    .filter(({ path }) => path.startsWith('/api/customers/'))
    .map(({ path, upperMethod, operation }) => ({
      operationId: String(operation.operationId),
      method: upperMethod,
      path,
      hasCustomerId: path.includes('{customerId}'),
      hasEndpointId: path.includes('{endpointId}'),
    }))
}

interface RequestParts {
  query?: Record<string, string>
  payload?: Record<string, unknown>
  /** Replaces the customer id in the path. */
  customerId?: string
  /** Replaces the merge id in the path (999999999 otherwise: no such merge). */
  mergeId?: string
  /** Replaces the import id in the path (999999999 otherwise: no such import). */
  importId?: string
  /** Replaces the webhook endpoint id in the path (999999999 otherwise: no such endpoint). */
  endpointId?: string
  /** A `text/csv` body instead of JSON (an import's file). */
  csv?: string
}

interface Sample {
  valid: RequestParts
  /** A request the operation refuses with 400 when the business is granted, if it has one. */
  invalid?: RequestParts
  success: number
}

/** One valid and one invalid request per operation; a new operation must be added here. */
const samples: Record<string, Sample> = {
  createCustomer: {
    valid: { payload: { name: 'Tenancy Probe' } },
    invalid: { payload: { name: 7, unknown_field: true } },
    success: 201,
  },
  listCustomers: { valid: {}, invalid: { query: { limit: '0' } }, success: 200 },
  searchCustomers: {
    valid: { query: { q: 'Probe' } },
    invalid: { query: { limit: '999' } },
    success: 200,
  },
  listRepeatCustomers: { valid: {}, invalid: { query: { min_purchases: '0' } }, success: 200 },
  // No parameter but the business: no request of it fails validation.
  getCustomerAnalytics: { valid: {}, success: 200 },
  getCustomer: { valid: {}, invalid: { customerId: 'abc' }, success: 200 },
  updateCustomer: {
    valid: { payload: { customer_type: 'vip' } },
    invalid: { payload: {} },
    success: 200,
  },
  deleteCustomer: { valid: {}, invalid: { customerId: 'abc' }, success: 200 },
  addNote: {
    valid: { payload: { content: 'Asked about credit terms' } },
    invalid: { payload: { content: '   ' } },
    success: 201,
  },
  listNotes: { valid: {}, invalid: { query: { limit: '0' } }, success: 200 },
  updatePreferences: {
    valid: { payload: { do_not_contact: true } },
    invalid: { payload: { average_spend: '10.00' } },
    success: 200,
  },
  recordConsent: {
    valid: {
      payload: { channel: 'sms', purpose: 'marketing', status: 'withdrawn', source: 'api' },
    },
    invalid: {
      payload: { channel: 'fax', purpose: 'marketing', status: 'granted', source: 'api' },
    },
    success: 201,
  },
  listConsents: { valid: {}, invalid: { customerId: 'abc' }, success: 200 },
  getCustomerMetrics: { valid: {}, invalid: { customerId: 'abc' }, success: 200 },
  getPurchaseHistory: {
    valid: { query: { start_date: '2026-01-01' } },
    invalid: { query: { start_date: 'yesterday' } },
    success: 200,
  },
  listDuplicates: { valid: {}, invalid: { query: { limit: '0' } }, success: 200 },
  exportCustomers: { valid: {}, invalid: { query: { format: 'xml' } }, success: 200 },
  listCustomerDuplicates: { valid: {}, invalid: { customerId: 'abc' }, success: 200 },
  listCustomerChanges: { valid: {}, invalid: { query: { limit: '0' } }, success: 200 },
  listEvents: { valid: {}, invalid: { query: { limit: '0' } }, success: 200 },
  exportCustomer: { valid: {}, invalid: { customerId: 'abc' }, success: 200 },
  eraseCustomer: {
    valid: { payload: { reason: 'Asked at the till' } },
    invalid: { payload: { reason: '' } },
    success: 200,
  },
  // A source no business has: under the customer's own business the merge is refused (422)
  // after the target is found; under another business the target is not found (404).
  mergeCustomers: {
    valid: { payload: { source_ids: [999_999_999] } },
    invalid: { payload: {} },
    success: 422,
  },
  // No customer in the path: only the 403s and the malformed business id apply.
  undoMerge: { valid: {}, invalid: { query: {}, mergeId: 'abc' }, success: 404 },
  createImport: {
    valid: { csv: 'name\nTenancy Import\n' },
    invalid: { csv: 'shoe_size\n42\n' },
    success: 202,
  },
  // No import in the path exists: only the 403s and the malformed ids apply.
  getImport: { valid: {}, invalid: { importId: 'abc' }, success: 404 },
  getImportErrors: { valid: {}, invalid: { importId: 'abc' }, success: 404 },
  createWebhookEndpoint: {
    valid: { payload: { url: 'https://tenancy.example/hook', events: ['customer.created'] } },
    invalid: { payload: { url: 'https://tenancy.example/hook', events: ['customer.exploded'] } },
    success: 201,
  },
  // No parameter but the business: no request of it fails validation.
  listWebhookEndpoints: { valid: {}, success: 200 },
  // `success` with an endpoint of the business in the path (without one: 404).
  getWebhookEndpoint: { valid: {}, invalid: { endpointId: 'abc' }, success: 200 },
  updateWebhookEndpoint: {
    valid: { payload: { enabled: false } },
    invalid: { payload: {} },
    success: 200,
  },
  deleteWebhookEndpoint: { valid: {}, invalid: { endpointId: 'abc' }, success: 200 },
  listWebhookDeliveries: { valid: {}, invalid: { query: { limit: '0' } }, success: 200 },
}

const operations = customerOperations()

function sampleOf(operation: DocumentOperation): Sample {
  const sample = samples[operation.operationId]
  if (!sample) throw new Error(`no sample request for ${operation.operationId}`)
  return sample
}

function requestFor(
  operation: DocumentOperation,
  parts: RequestParts,
  businessId: string | number,
  customerId: string | number,
  headers: Record<string, string>,
): InjectOptions {
  const path = operation.path
    .replace('{businessId}', String(businessId))
    .replace('{customerId}', String(parts.customerId ?? customerId))
    .replace('{mergeId}', parts.mergeId ?? '999999999')
    .replace('{importId}', parts.importId ?? '999999999')
    .replace('{endpointId}', parts.endpointId ?? '999999999')
  const query = parts.query ? `?${new URLSearchParams(parts.query).toString()}` : ''
  const body =
    parts.csv === undefined
      ? parts.payload
        ? { payload: parts.payload }
        : {}
      : { payload: parts.csv, headers: { ...headers, 'content-type': 'text/csv' } }
  return { method: operation.method, url: `${path}${query}`, headers, ...body }
}

const label = (operation: DocumentOperation): string =>
  `${operation.operationId} (${operation.method} ${operation.path})`

/** Everything a business holds, as text, to show that a refused request changed nothing. */
async function snapshot(server: TestServer, businessId: number): Promise<string> {
  const { db } = server.database
  const [customers, notes, preferences, consents, webhookEndpoints] = await Promise.all([
    db.selectFrom('customers').where('business_id', '=', businessId).selectAll().execute(),
    db.selectFrom('customer_notes').where('business_id', '=', businessId).selectAll().execute(),
    db
      .selectFrom('customer_preferences')
      .where('business_id', '=', businessId)
      .selectAll()
      .execute(),
    db
      .selectFrom('customer_consents')
      .where('business_id', '=', businessId)
      .selectAll()
      .orderBy('id')
      .execute(),
    db
      .selectFrom('webhook_endpoints')
      .where('business_id', '=', businessId)
      .selectAll()
      .orderBy('id')
      .execute(),
  ])
  return JSON.stringify({ customers, notes, preferences, consents, webhookEndpoints })
}

function assertErrorBody(
  t: Test,
  response: LightMyRequestResponse,
  expected: Record<string, unknown>,
  name: string,
): void {
  t.strictSame(
    response.json(),
    { ...expected, request_id: response.headers['x-request-id'] },
    `${name}: body`,
  )
}

t.test('the sample table covers every operation under /api/customers', async (t) => {
  t.ok(operations.length > 0, 'the document has operations under /api/customers')
  t.strictSame(
    operations.map((operation) => operation.operationId).sort(),
    Object.keys(samples).sort(),
    'one sample per operation, no stale samples',
  )
})

t.test(
  'a business outside the token is a 403 for every operation, before validation',
  async (t) => {
    const server = await fileServer(t)
    const customerId = await createCustomerId(server.inject, 5, { name: 'Five Customer' })
    // A real endpoint of business 5 in the path, so a PATCH or DELETE that slipped through shows.
    const endpointId = String(await createEndpointId(server, 5))
    const before = await snapshot(server, 5)
    const tokens = [
      { name: 'token for business 6 only', headers: authFor(6) },
      { name: 'token granting no business', headers: authFor() },
    ]
    for (const token of tokens) {
      for (const operation of operations) {
        const { valid, invalid } = sampleOf(operation)
        const variants: [string, RequestParts][] = [['valid', valid]]
        if (invalid) variants.push(['invalid', invalid])
        for (const [variant, parts] of variants) {
          const name = `${token.name}, ${label(operation)}, ${variant} request`
          const response = await server.inject(
            requestFor(operation, { endpointId, ...parts }, 5, customerId, token.headers),
          )
          t.equal(response.statusCode, 403, `${name}: status`)
          assertErrorBody(t, response, { error: 'Access denied' }, name)
        }
      }
    }
    t.equal(await snapshot(server, 5), before, 'nothing changed in business 5')

    // The invalid requests really are invalid: with the business granted they are a 400.
    for (const operation of operations) {
      const { invalid } = sampleOf(operation)
      if (!invalid) continue
      const name = `${label(operation)}, invalid request with business 5 granted`
      const response = await server.inject(
        requestFor(operation, invalid, 5, customerId, authFor(5)),
      )
      t.equal(response.statusCode, 400, `${name}: status`)
      t.equal(response.json().error, 'Validation failed', `${name}: error`)
    }
  },
)

t.test('a customer of another granted business is a 404 under this business', async (t) => {
  const server = await fileServer(t)
  await createCustomerId(server.inject, 5, { name: 'Five Customer' })
  const sixCustomer = await createCustomerId(server.inject, 6, {
    name: 'Six Customer',
    phone: '0712 600 600',
    email: 'six@example.com',
  })
  const readSix = () =>
    server.inject({ method: 'GET', url: `/api/customers/6/${sixCustomer}`, headers: authFor(6) })
  const before = await readSix()
  t.equal(before.statusCode, 200, 'business 6 reads its customer')
  const rowsBefore = await snapshot(server, 6)

  const withCustomer = operations.filter((operation) => operation.hasCustomerId)
  t.ok(withCustomer.length > 0, 'the document has operations on one customer')
  for (const operation of withCustomer) {
    const name = `${label(operation)} for business 6's customer under business 5`
    const response = await server.inject(
      requestFor(operation, sampleOf(operation).valid, 5, sixCustomer, authFor(5, 6)),
    )
    t.equal(response.statusCode, 404, `${name}: status`)
    assertErrorBody(t, response, { error: 'Customer not found' }, name)
  }

  const after = await readSix()
  t.equal(after.statusCode, 200, 'business 6 still reads its customer')
  t.strictSame(
    after.json(),
    before.json(),
    "business 6's customer, notes and preferences unchanged",
  )
  t.equal(await snapshot(server, 6), rowsBefore, 'no row of business 6 changed')

  // The same requests are valid: under the right business they succeed (the delete, then the
  // erasure, after which nothing changes the customer, last).
  const rank = (operation: DocumentOperation) =>
    operation.operationId === 'eraseCustomer' ? 2 : Number(operation.method === 'DELETE')
  const ordered = [...withCustomer].sort((a, b) => rank(a) - rank(b))
  for (const operation of ordered) {
    const name = `${label(operation)} under business 6`
    const response = await server.inject(
      requestFor(operation, sampleOf(operation).valid, 6, sixCustomer, authFor(5, 6)),
    )
    t.equal(response.statusCode, sampleOf(operation).success, `${name}: status`)
  }
})

async function createEndpointId(server: TestServer, businessId: number): Promise<number> {
  const response = await server.inject({
    method: 'POST',
    url: `/api/customers/${businessId}/webhook-endpoints`,
    headers: authFor(businessId),
    payload: { url: `https://tenancy-${businessId}.example/hook`, events: ['customer.created'] },
  })
  if (response.statusCode !== 201) throw new Error(`endpoint: ${response.body}`)
  return response.json<{ webhook_endpoint: { id: number } }>().webhook_endpoint.id
}

t.test('a webhook endpoint of another granted business is a 404 under this business', async (t) => {
  const server = await fileServer(t)
  await createEndpointId(server, 5)
  const sixEndpoint = String(await createEndpointId(server, 6))
  const rowsBefore = await snapshot(server, 6)
  const withEndpoint = operations.filter((operation) => operation.hasEndpointId)
  t.ok(withEndpoint.length > 0, 'the document has operations on one webhook endpoint')
  for (const operation of withEndpoint) {
    const name = `${label(operation)} for business 6's endpoint under business 5`
    const parts = { ...sampleOf(operation).valid, endpointId: sixEndpoint }
    const response = await server.inject(requestFor(operation, parts, 5, 0, authFor(5, 6)))
    t.equal(response.statusCode, 404, `${name}: status`)
    assertErrorBody(t, response, { error: 'Webhook endpoint not found' }, name)
  }
  t.equal(await snapshot(server, 6), rowsBefore, 'no row of business 6 changed')

  // The same requests are valid: under the right business they succeed (the delete last).
  const ordered = [...withEndpoint].sort(
    (a, b) => Number(a.method === 'DELETE') - Number(b.method === 'DELETE'),
  )
  for (const operation of ordered) {
    const name = `${label(operation)} under business 6`
    const parts = { ...sampleOf(operation).valid, endpointId: sixEndpoint }
    const response = await server.inject(requestFor(operation, parts, 6, 0, authFor(5, 6)))
    t.equal(response.statusCode, sampleOf(operation).success, `${name}: status`)
  }
})

t.test("list and search under one business never return another's customers", async (t) => {
  const server = await fileServer(t)
  const { db } = server.database
  const zawadiFive = await createCustomerId(server.inject, 5, {
    name: 'Zawadi Tano',
    phone: '0712 500 500',
  })
  const regularFive = await createCustomerId(server.inject, 5, {
    name: 'Juma Tano',
    customer_type: 'regular',
  })
  const deletedFive = await createCustomerId(server.inject, 5, { name: 'Zawadi Deleted Tano' })
  const six = [
    await createCustomerId(server.inject, 6, {
      name: 'Zawadi Sita',
      phone: '0712 600 600',
      email: 'zawadi.sita@example.com',
    }),
    await createCustomerId(server.inject, 6, { name: 'Juma Sita', customer_type: 'regular' }),
    await createCustomerId(server.inject, 6, { name: 'Zawadi Deleted Sita' }),
  ]
  for (const [businessId, customerId] of [
    [6, six[2]],
    [5, deletedFive],
  ] as const) {
    const deleted = await server.inject({
      method: 'DELETE',
      url: `/api/customers/${businessId}/${customerId}`,
      headers: authFor(businessId),
    })
    t.equal(deleted.statusCode, 200, `soft-deleting ${customerId} of business ${businessId}`)
  }
  const sixIds = new Set(six)
  const headers = authFor(5, 6)
  // Other tests of this file also add customers to business 5: expect what the table holds.
  const fiveRows = (
    await db
      .selectFrom('customers')
      .select(['id', 'is_active', 'customer_type'])
      .where('business_id', '=', 5)
      .execute()
  ).map((row) => ({ ...row, id: Number(row.id) }))
  type Row = (typeof fiveRows)[number]

  const listCases: { name: string; query: string; where: (row: Row) => boolean; has: number }[] = [
    { name: 'default list', query: '', where: (row) => row.is_active, has: zawadiFive },
    {
      name: 'sorted by name',
      query: 'sort_by=name&sort_order=asc',
      where: (row) => row.is_active,
      has: zawadiFive,
    },
    { name: 'sorted by id', query: 'sort_by=id', where: (row) => row.is_active, has: regularFive },
    {
      name: 'soft-deleted only',
      query: 'is_active=false',
      where: (row) => !row.is_active,
      has: deletedFive,
    },
    {
      name: 'filtered by type',
      query: 'filter_type=regular',
      where: (row) => row.is_active && row.customer_type === 'regular',
      has: regularFive,
    },
  ]
  for (const { name, query, where, has } of listCases) {
    const response = await server.inject({
      method: 'GET',
      url: `/api/customers/5?limit=100&${query}`,
      headers,
    })
    t.equal(response.statusCode, 200, `list, ${name}: status`)
    const body = response.json() as {
      customers: { id: number; business_id: number }[]
      total: number
    }
    const ids = body.customers.map((customer) => customer.id)
    const expected = fiveRows.filter(where).map((row) => row.id)
    t.ok(
      body.customers.every((customer) => customer.business_id === 5),
      `list, ${name}: only business 5`,
    )
    t.notOk(
      ids.some((id) => sixIds.has(id)),
      `list, ${name}: no customer of business 6`,
    )
    t.ok(ids.includes(has), `list, ${name}: includes business 5's customer ${has}`)
    t.strictSame(
      [...ids].sort((a, b) => a - b),
      expected.sort((a, b) => a - b),
      `list, ${name}: exactly business 5's matching customers`,
    )
    t.equal(body.total, expected.length, `list, ${name}: total counts business 5 only`)
  }

  const searchCases: { q: string; has?: number }[] = [
    { q: 'Zawadi', has: zawadiFive },
    { q: '254712', has: zawadiFive },
    { q: 'Sita' },
    { q: 'zawadi.sita@example.com' },
    { q: 'example.com' },
    { q: '0712600600' },
    { q: '+254 712 600 600' },
  ]
  for (const { q, has } of searchCases) {
    const name = `search ${JSON.stringify(q)}`
    const response = await server.inject({
      method: 'GET',
      url: `/api/customers/5/search?${new URLSearchParams({ q, limit: '50' }).toString()}`,
      headers,
    })
    t.equal(response.statusCode, 200, `${name}: status`)
    const body = response.json() as { results: { id: number; business_id: number }[] }
    const ids = body.results.map((customer) => customer.id)
    t.ok(
      body.results.every((customer) => customer.business_id === 5),
      `${name}: only business 5`,
    )
    t.notOk(
      ids.some((id) => sixIds.has(id)),
      `${name}: no customer of business 6`,
    )
    if (has === undefined) t.strictSame(ids, [], `${name}: matches only in business 6, so none`)
    else t.ok(ids.includes(has), `${name}: finds business 5's customer ${has}`)
  }
})

t.test('the database refuses a row that points at another business customer', async (t) => {
  const server = await fileServer(t)
  const { db } = server.database
  await db
    .insertInto('businesses')
    .values([{ id: 5 }, { id: 6 }])
    .onConflict((conflict) => conflict.column('id').doNothing())
    .execute()
  await createCustomerId(server.inject, 5, { name: 'Five Customer' })
  // Inserted directly, so it has no preferences or history row yet.
  const sixCustomer = await db
    .insertInto('customers')
    .values({ business_id: 6, name: 'Six Bare Customer' })
    .returning('id')
    .executeTakeFirstOrThrow()
  const customerId = Number(sixCustomer.id)
  const foreignKeyViolation = { code: '23503' }

  const tables = [
    {
      name: 'customer_notes',
      insert: (businessId: number) =>
        db
          .insertInto('customer_notes')
          .values({ business_id: businessId, customer_id: customerId, content: 'x', created_by: 1 })
          .execute(),
    },
    {
      name: 'customer_preferences',
      insert: (businessId: number) =>
        db
          .insertInto('customer_preferences')
          .values({ business_id: businessId, customer_id: customerId })
          .execute(),
    },
    {
      name: 'customer_purchase_history',
      insert: (businessId: number) =>
        db
          .insertInto('customer_purchase_history')
          .values({ business_id: businessId, customer_id: customerId })
          .execute(),
    },
    {
      name: 'customer_consents',
      insert: (businessId: number) =>
        db
          .insertInto('customer_consents')
          .values({
            business_id: businessId,
            customer_id: customerId,
            channel: 'sms',
            purpose: 'service',
            status: 'granted',
            source: 'api',
            actor: 'user:1',
          })
          .execute(),
    },
  ]
  for (const table of tables) {
    await t.rejects(
      table.insert(5),
      foreignKeyViolation,
      `${table.name}: a business 5 row for business 6's customer is a foreign-key violation`,
    )
    await t.resolves(table.insert(6), `${table.name}: the same row under business 6 is accepted`)
  }

  // business_id cannot be updated through the typed schema; raw SQL is what a slip would run.
  await t.rejects(
    sql`update customer_notes set business_id = 5 where customer_id = ${customerId}`.execute(db),
    foreignKeyViolation,
    "customer_notes: moving business 6's note to business 5 is a foreign-key violation",
  )
})

t.test('a malformed business or customer id is a 400 naming the parameter', async (t) => {
  const server = await fileServer(t)
  const customerId = await createCustomerId(server.inject, 5, { name: 'Five Customer' })
  const businessIds = ['abc', '0', '-5', '5.5', '99999999999999999999', '0x5', '+5', '5.0', '5e0']
  for (const operation of operations) {
    for (const businessId of businessIds) {
      const name = `${label(operation)} with businessId ${JSON.stringify(businessId)}`
      const response = await server.inject(
        requestFor(operation, sampleOf(operation).valid, businessId, customerId, authFor(5)),
      )
      if (!t.equal(response.statusCode, 400, `${name}: status`)) continue
      const body = response.json() as { error: string; details?: { path: string }[] }
      t.equal(body.error, 'Validation failed', `${name}: error`)
      t.ok(
        body.details?.some((detail) => detail.path === 'businessId'),
        `${name}: details name businessId`,
      )
    }
  }
  const customerIds = ['abc', '0', '-1', '1.5', `0x${customerId.toString(16)}`, `+${customerId}`]
  for (const operation of operations.filter((operation) => operation.hasCustomerId)) {
    for (const badId of customerIds) {
      const name = `${label(operation)} with customerId ${JSON.stringify(badId)}`
      const parts = { ...sampleOf(operation).valid, customerId: badId }
      const response = await server.inject(requestFor(operation, parts, 5, badId, authFor(5)))
      if (!t.equal(response.statusCode, 400, `${name}: status`)) continue
      const body = response.json() as { error: string; details?: { path: string }[] }
      t.equal(body.error, 'Validation failed', `${name}: error`)
      t.ok(
        body.details?.some((detail) => detail.path === 'customerId'),
        `${name}: details name customerId`,
      )
    }
  }
})

t.test("another business's id spelled differently does not slip past the 403", async (t) => {
  const server = await fileServer(t)
  const sixCustomer = await createCustomerId(server.inject, 6, { name: 'Six Secret Customer' })
  const before = await snapshot(server, 6)
  // A lenient number parser reads each of these as 6; the token grants only 5.
  const disguises = ['0x6', '+6', '6.0', '6e0', '%206']
  for (const operation of operations) {
    for (const disguise of disguises) {
      const name = `${label(operation)} with businessId ${JSON.stringify(disguise)}, token for 5`
      const response = await server.inject(
        requestFor(operation, sampleOf(operation).valid, disguise, sixCustomer, authFor(5)),
      )
      t.equal(response.statusCode, 400, `${name}: status (not a positive integer)`)
      t.notOk(response.body.includes('Six Secret Customer'), `${name}: no data of business 6`)
    }
  }
  t.equal(await snapshot(server, 6), before, 'nothing changed in business 6')
})
