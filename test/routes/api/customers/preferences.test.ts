import type { LightMyRequestResponse } from 'fastify'
import t from 'tap'
import type { ApiError } from '../../../../generated/schemas/ApiError.js'
import type { CustomerResponse } from '../../../../generated/schemas/CustomerResponse.js'
import type { PreferencesUpdated } from '../../../../generated/schemas/PreferencesUpdated.js'
import { authFor, fileServer, type TestServer } from '../../../helper.js'
import { createCustomer } from '../../../support/customers.js'

type Inject = TestServer['inject']

const preferencesUrl = (businessId: number, customerId: number): string =>
  `/api/customers/${businessId}/${customerId}/preferences`

async function patch(
  inject: Inject,
  businessId: number,
  customerId: number,
  payload: unknown,
): Promise<LightMyRequestResponse> {
  return inject({
    method: 'PATCH',
    url: preferencesUrl(businessId, customerId),
    headers: authFor(businessId),
    payload: payload as Record<string, unknown>,
  })
}

/** The customer_preferences row of a customer, in API terms. */
async function storedPreferences(server: TestServer, customerId: number) {
  const row = await server.database.db
    .selectFrom('customer_preferences')
    .selectAll()
    .where('customer_id', '=', customerId)
    .executeTakeFirstOrThrow()
  return {
    business_id: Number(row.business_id),
    favorite_products: row.favorite_products.map(Number),
    preferred_payment: row.preferred_payment,
    average_spend: row.average_spend,
    best_contact_time: row.best_contact_time,
    do_not_contact: row.do_not_contact,
    can_receive_offers: row.can_receive_offers,
    can_receive_loyalty: row.can_receive_loyalty,
    updated_at: new Date(row.updated_at).toISOString(),
  }
}

type Stored = Awaited<ReturnType<typeof storedPreferences>>

/** The stored preference fields, without the bookkeeping columns, to compare with the API. */
function fieldsOf(stored: Stored) {
  return {
    favorite_products: stored.favorite_products,
    preferred_payment: stored.preferred_payment,
    average_spend: stored.average_spend,
    best_contact_time: stored.best_contact_time,
    do_not_contact: stored.do_not_contact,
    can_receive_offers: stored.can_receive_offers,
    can_receive_loyalty: stored.can_receive_loyalty,
  }
}

const DEFAULTS = {
  favorite_products: [],
  preferred_payment: null,
  average_spend: '0.00',
  best_contact_time: null,
  do_not_contact: false,
  can_receive_offers: true,
  can_receive_loyalty: true,
}

const detailPaths = (res: LightMyRequestResponse): string[] =>
  (res.json<ApiError>().details ?? []).map((detail) => detail.path)

t.test('PATCH updates every field: 200, message, preferences, stored row', async (t) => {
  const server = await fileServer(t)
  const { inject } = server
  const businessId = 501
  const customer = await createCustomer(inject, businessId, { name: 'Preferences Subject' })
  t.same(fieldsOf(await storedPreferences(server, customer.id)), DEFAULTS, 'created with defaults')

  const res = await patch(inject, businessId, customer.id, {
    favorite_products: [12, 7, 31],
    preferred_payment: 'mpesa',
    best_contact_time: '  Weekday mornings  ',
    do_not_contact: true,
    can_receive_offers: false,
    can_receive_loyalty: false,
  })
  t.equal(res.statusCode, 200, 'status')
  const body = res.json<PreferencesUpdated>()
  t.same(Object.keys(body).sort(), ['message', 'preferences'], 'shape')
  t.equal(body.message, 'Preferences updated successfully', 'message')
  const expected = {
    favorite_products: [12, 7, 31],
    preferred_payment: 'mpesa',
    average_spend: '0.00',
    best_contact_time: 'Weekday mornings',
    do_not_contact: true,
    can_receive_offers: false,
    can_receive_loyalty: false,
  }
  t.match(
    body.preferences,
    { ...expected, customer_id: customer.id, business_id: businessId },
    'response preferences',
  )
  const stored = await storedPreferences(server, customer.id)
  t.same(fieldsOf(stored), expected, 'stored row')
  t.equal(stored.updated_at, body.preferences.updated_at, 'updated_at as stored')

  const detail = await inject({
    method: 'GET',
    url: `/api/customers/${businessId}/${customer.id}`,
    headers: authFor(businessId),
  })
  t.same(detail.json<CustomerResponse>().customer.preferences, body.preferences, 'GET customer')
})

t.test('a subset changes only those fields', async (t) => {
  const server = await fileServer(t)
  const { inject } = server
  const businessId = 502
  const customer = await createCustomer(inject, businessId, { name: 'Preferences Subject' })
  const first = await patch(inject, businessId, customer.id, {
    favorite_products: [3],
    preferred_payment: 'cash',
    best_contact_time: 'Evenings',
  })
  t.equal(first.statusCode, 200, 'first: status')

  const cases: { name: string; payload: Record<string, unknown>; change: Partial<Stored> }[] = [
    {
      // The flags are views of the consent ledger (SPEC Part 2, "Consent views"):
      // do_not_contact withdraws every granted pair, so no marketing or loyalty is left.
      name: 'do_not_contact true',
      payload: { do_not_contact: true },
      change: { do_not_contact: true, can_receive_offers: false, can_receive_loyalty: false },
    },
    {
      name: 'do_not_contact false',
      payload: { do_not_contact: false },
      change: { do_not_contact: false },
    },
    {
      name: 'can_receive_offers false',
      payload: { can_receive_offers: false },
      change: { can_receive_offers: false },
    },
    {
      name: 'can_receive_offers true',
      payload: { can_receive_offers: true },
      change: { can_receive_offers: true },
    },
    {
      name: 'can_receive_loyalty false',
      payload: { can_receive_loyalty: false },
      change: { can_receive_loyalty: false },
    },
    {
      name: 'can_receive_loyalty true',
      payload: { can_receive_loyalty: true },
      change: { can_receive_loyalty: true },
    },
    {
      name: 'preferred_payment credit',
      payload: { preferred_payment: 'credit' },
      change: { preferred_payment: 'credit' },
    },
    {
      name: 'preferred_payment mpesa',
      payload: { preferred_payment: 'mpesa' },
      change: { preferred_payment: 'mpesa' },
    },
    {
      name: 'preferred_payment cash',
      payload: { preferred_payment: 'cash' },
      change: { preferred_payment: 'cash' },
    },
    {
      name: 'best_contact_time',
      payload: { best_contact_time: 'After 6pm' },
      change: { best_contact_time: 'After 6pm' },
    },
    {
      name: 'best_contact_time of 100 emoji',
      payload: { best_contact_time: '🕘'.repeat(100) },
      change: { best_contact_time: '🕘'.repeat(100) },
    },
    {
      name: 'best_contact_time of 100 characters',
      payload: { best_contact_time: 'b'.repeat(100) },
      change: { best_contact_time: 'b'.repeat(100) },
    },
    {
      name: 'favorite_products',
      payload: { favorite_products: [9, 8] },
      change: { favorite_products: [9, 8] },
    },
    {
      name: 'favorite_products emptied',
      payload: { favorite_products: [] },
      change: { favorite_products: [] },
    },
    {
      name: 'favorite_products as "[]"',
      payload: { favorite_products: '[4]' },
      change: { favorite_products: [4] },
    },
  ]
  for (const c of cases) {
    const before = await storedPreferences(server, customer.id)
    const res = await patch(inject, businessId, customer.id, c.payload)
    t.equal(res.statusCode, 200, `${c.name}: status`)
    const after = await storedPreferences(server, customer.id)
    const expected = { ...fieldsOf(before), ...c.change }
    t.same(fieldsOf(after), expected, `${c.name}: stored row, other fields kept`)
    t.match(res.json<PreferencesUpdated>().preferences, expected, `${c.name}: response`)
  }
})

t.test('favorite_products as an array or as a JSON string give the same array', async (t) => {
  const server = await fileServer(t)
  const { inject } = server
  const businessId = 503
  const cases: { name: string; value: unknown; expected: number[] }[] = [
    { name: 'array', value: [12, 7, 31], expected: [12, 7, 31] },
    { name: 'JSON string', value: '[12, 7, 31]', expected: [12, 7, 31] },
    { name: 'JSON string with spaces around', value: '  [12,7,31]  ', expected: [12, 7, 31] },
    { name: 'array with duplicates', value: [5, 3, 5, 1, 3, 5], expected: [5, 3, 1] },
    { name: 'JSON string with duplicates', value: '[5, 3, 5, 1, 3, 5]', expected: [5, 3, 1] },
    { name: 'empty array', value: [], expected: [] },
    { name: 'empty JSON array', value: '[]', expected: [] },
    {
      name: '100 items',
      value: Array.from({ length: 100 }, (_, i) => 100 - i),
      expected: Array.from({ length: 100 }, (_, i) => 100 - i),
    },
    {
      name: 'largest safe id',
      value: [Number.MAX_SAFE_INTEGER, 1],
      expected: [Number.MAX_SAFE_INTEGER, 1],
    },
  ]
  for (const c of cases) {
    const customer = await createCustomer(inject, businessId, { name: 'Preferences Subject' })
    const res = await patch(inject, businessId, customer.id, { favorite_products: c.value })
    t.equal(res.statusCode, 200, `${c.name}: status`)
    t.same(
      res.json<PreferencesUpdated>().preferences.favorite_products,
      c.expected,
      `${c.name}: response`,
    )
    t.same(
      (await storedPreferences(server, customer.id)).favorite_products,
      c.expected,
      `${c.name}: stored`,
    )
  }
})

t.test('invalid changes are refused with a 400 and change nothing', async (t) => {
  const server = await fileServer(t)
  const { inject } = server
  const businessId = 504
  const customer = await createCustomer(inject, businessId, { name: 'Preferences Subject' })
  const set = await patch(inject, businessId, customer.id, {
    favorite_products: [1, 2],
    preferred_payment: 'cash',
    best_contact_time: 'Mornings',
  })
  t.equal(set.statusCode, 200, 'setup: status')
  const before = await storedPreferences(server, customer.id)

  const tooMany = Array.from({ length: 101 }, (_, i) => i + 1)
  const cases: { name: string; payload: unknown; path: string }[] = [
    { name: 'empty body', payload: {}, path: 'body' },
    {
      name: 'favorite_products empty',
      payload: { favorite_products: '' },
      path: 'favorite_products',
    },
    {
      name: 'preferred_payment empty',
      payload: { preferred_payment: ' ' },
      path: 'preferred_payment',
    },
    { name: 'average_spend', payload: { average_spend: '100.00' }, path: 'average_spend' },
    {
      name: 'average_spend with a valid field',
      payload: { do_not_contact: true, average_spend: 5 },
      path: 'average_spend',
    },
    { name: 'unknown field', payload: { favourite_colour: 'blue' }, path: 'favourite_colour' },
    { name: '101 products', payload: { favorite_products: tooMany }, path: 'favorite_products' },
    {
      name: '101 products as JSON',
      payload: { favorite_products: JSON.stringify(tooMany) },
      path: 'favorite_products',
    },
    { name: 'product id 0', payload: { favorite_products: [0] }, path: 'favorite_products' },
    { name: 'product id -1', payload: { favorite_products: [3, -1] }, path: 'favorite_products' },
    { name: 'product id 1.5', payload: { favorite_products: [1.5] }, path: 'favorite_products' },
    { name: 'product id "x"', payload: { favorite_products: ['x'] }, path: 'favorite_products' },
    {
      name: 'product id "5" (a string)',
      payload: { favorite_products: ['5'] },
      path: 'favorite_products',
    },
    { name: 'product id null', payload: { favorite_products: [null] }, path: 'favorite_products' },
    {
      name: 'JSON string with 0',
      payload: { favorite_products: '[0]' },
      path: 'favorite_products',
    },
    {
      name: 'JSON string with -1',
      payload: { favorite_products: '[-1]' },
      path: 'favorite_products',
    },
    {
      name: 'JSON string with 1.5',
      payload: { favorite_products: '[1.5]' },
      path: 'favorite_products',
    },
    {
      name: 'JSON string with "x"',
      payload: { favorite_products: '["x"]' },
      path: 'favorite_products',
    },
    { name: 'string "abc"', payload: { favorite_products: 'abc' }, path: 'favorite_products' },
    { name: 'string "{}"', payload: { favorite_products: '{}' }, path: 'favorite_products' },
    { name: 'string "5"', payload: { favorite_products: '5' }, path: 'favorite_products' },
    { name: 'string "null"', payload: { favorite_products: 'null' }, path: 'favorite_products' },
    { name: 'string "[1, 2"', payload: { favorite_products: '[1, 2' }, path: 'favorite_products' },
    {
      name: 'favorite_products null',
      payload: { favorite_products: null },
      path: 'favorite_products',
    },
    {
      name: 'favorite_products a number',
      payload: { favorite_products: 5 },
      path: 'favorite_products',
    },
    {
      name: 'favorite_products an object',
      payload: { favorite_products: { a: 1 } },
      path: 'favorite_products',
    },
    {
      name: 'preferred_payment card',
      payload: { preferred_payment: 'card' },
      path: 'preferred_payment',
    },
    {
      name: 'preferred_payment MPESA',
      payload: { preferred_payment: 'MPESA' },
      path: 'preferred_payment',
    },
    {
      name: 'preferred_payment a number',
      payload: { preferred_payment: 1 },
      path: 'preferred_payment',
    },
    {
      name: 'best_contact_time of 101 characters',
      payload: { best_contact_time: 'b'.repeat(101) },
      path: 'best_contact_time',
    },
    {
      name: 'best_contact_time a number',
      payload: { best_contact_time: 9 },
      path: 'best_contact_time',
    },
    { name: 'do_not_contact "yes"', payload: { do_not_contact: 'yes' }, path: 'do_not_contact' },
    { name: 'do_not_contact "true"', payload: { do_not_contact: 'true' }, path: 'do_not_contact' },
    {
      name: 'can_receive_offers 1',
      payload: { can_receive_offers: 1 },
      path: 'can_receive_offers',
    },
    {
      name: 'can_receive_loyalty null',
      payload: { can_receive_loyalty: null },
      path: 'can_receive_loyalty',
    },
    {
      name: 'a valid field beside an invalid one',
      payload: { do_not_contact: true, preferred_payment: 'card' },
      path: 'preferred_payment',
    },
  ]
  for (const c of cases) {
    const res = await patch(inject, businessId, customer.id, c.payload)
    t.equal(res.statusCode, 400, `${c.name}: status`)
    t.equal(res.json<ApiError>().error, 'Validation failed', `${c.name}: error`)
    const paths = detailPaths(res)
    t.ok(
      paths.some((path) => path === c.path || path.startsWith(`${c.path}.`)),
      `${c.name}: details name ${c.path} (got ${paths.join(', ')})`,
    )
    t.same(await storedPreferences(server, customer.id), before, `${c.name}: nothing changed`)
  }
})

t.test('a string that is not a JSON array is refused naming favorite_products', async (t) => {
  const server = await fileServer(t)
  const { inject } = server
  const businessId = 505
  const customer = await createCustomer(inject, businessId, { name: 'Preferences Subject' })
  const before = await storedPreferences(server, customer.id)
  for (const value of ['abc', '{}', '5', '"[1]"', 'true']) {
    const res = await patch(inject, businessId, customer.id, { favorite_products: value })
    t.equal(res.statusCode, 400, `${value}: status`)
    t.same(detailPaths(res), ['favorite_products'], `${value}: details name favorite_products`)
    t.same(await storedPreferences(server, customer.id), before, `${value}: nothing changed`)
  }
})

t.test('null clears preferred_payment and best_contact_time', async (t) => {
  const server = await fileServer(t)
  const { inject } = server
  const businessId = 506
  const customer = await createCustomer(inject, businessId, { name: 'Preferences Subject' })
  const set = await patch(inject, businessId, customer.id, {
    preferred_payment: 'credit',
    best_contact_time: 'Lunchtime',
    favorite_products: [4],
  })
  t.equal(set.statusCode, 200, 'set: status')
  t.match(
    await storedPreferences(server, customer.id),
    { preferred_payment: 'credit', best_contact_time: 'Lunchtime' },
    'set: stored',
  )

  const cases: { name: string; payload: Record<string, unknown>; field: keyof Stored }[] = [
    { name: 'preferred_payment', payload: { preferred_payment: null }, field: 'preferred_payment' },
    { name: 'best_contact_time', payload: { best_contact_time: null }, field: 'best_contact_time' },
  ]
  for (const c of cases) {
    const res = await patch(inject, businessId, customer.id, c.payload)
    t.equal(res.statusCode, 200, `${c.name}: status`)
    t.equal(res.json<PreferencesUpdated>().preferences[c.field], null, `${c.name}: response`)
    t.equal((await storedPreferences(server, customer.id))[c.field], null, `${c.name}: stored`)
  }
  t.same((await storedPreferences(server, customer.id)).favorite_products, [4], 'other fields kept')

  // An empty string (after trimming) clears best_contact_time, as null does (the Blank schema).
  await patch(inject, businessId, customer.id, { best_contact_time: 'Mornings' })
  const blank = await patch(inject, businessId, customer.id, {
    best_contact_time: '   ',
    do_not_contact: true,
  })
  t.equal(blank.statusCode, 200, 'blank string: status')
  t.match(
    await storedPreferences(server, customer.id),
    { best_contact_time: null, do_not_contact: true },
    'blank string: best_contact_time cleared',
  )
})

t.test('an unknown customer is a 404 and nothing changes', async (t) => {
  const server = await fileServer(t)
  const { inject } = server
  const [businessId, otherBusinessId] = [507, 508]
  const other = await createCustomer(inject, otherBusinessId, { name: 'Preferences Subject' })
  const before = await storedPreferences(server, other.id)
  const cases: { name: string; customerId: number }[] = [
    { name: 'no such customer', customerId: 999_999_999 },
    { name: "another business's customer", customerId: other.id },
  ]
  for (const c of cases) {
    const res = await patch(inject, businessId, c.customerId, {
      do_not_contact: true,
      favorite_products: [1],
    })
    t.equal(res.statusCode, 404, `${c.name}: status`)
    t.equal(res.json<ApiError>().error, 'Customer not found', `${c.name}: error`)
  }
  t.same(await storedPreferences(server, other.id), before, "the other business's row unchanged")
})
