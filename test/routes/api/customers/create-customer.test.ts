import { sql } from 'kysely'
import t from 'tap'
import type { DatabaseConnection } from '../../../../db/connect.js'
import type { ApiError } from '../../../../generated/schemas/ApiError.js'
import type { CustomerCreated } from '../../../../generated/schemas/CustomerCreated.js'
import { authFor, fileServer } from '../../../helper.js'
import { assertValidationFailed } from '../../../support/assertions.js'

type Db = DatabaseConnection['db']

/** A well-formed address (labels of at most 63 characters) of 307 characters. */
const LONG_EMAIL = `${'a'.repeat(60)}@${['b', 'c', 'd', 'e'].map((l) => l.repeat(60)).join('.')}.ke`

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/

interface RowCounts {
  customers: number
  preferences: number
  history: number
}

/** Rows of one business in the three tables a create writes to. */
async function countRows(db: Db, businessId: number): Promise<RowCounts> {
  const count = async (
    table: 'customers' | 'customer_preferences' | 'customer_purchase_history',
  ): Promise<number> => {
    const row = await db
      .selectFrom(table)
      .select((eb) => eb.fn.countAll<string | number>().as('n'))
      .where('business_id', '=', businessId)
      .executeTakeFirstOrThrow()
    return Number(row.n)
  }
  return {
    customers: await count('customers'),
    preferences: await count('customer_preferences'),
    history: await count('customer_purchase_history'),
  }
}

async function customerRow(db: Db, businessId: number, id: number) {
  return db
    .selectFrom('customers')
    .selectAll()
    .where('business_id', '=', businessId)
    .where('id', '=', id)
    .executeTakeFirst()
}

t.test('creates a customer from a name alone, with the documented defaults', async (t) => {
  const { inject, database } = await fileServer(t)
  const res = await inject({
    method: 'POST',
    url: '/api/customers/101',
    headers: authFor(101),
    payload: { name: 'Otieno' },
  })
  t.equal(res.statusCode, 201, 'status')
  t.type(res.headers['x-request-id'], 'string', 'x-request-id header')
  const body = res.json<CustomerCreated>()
  t.equal(body.message, 'Customer created successfully')
  const { customer } = body
  t.ok(Number.isInteger(customer.id) && customer.id > 0, 'id is a positive integer')
  t.same(
    { ...customer, id: 0, created_at: '', updated_at: '' },
    {
      id: 0,
      business_id: 101,
      name: 'Otieno',
      phone: null,
      email: null,
      address: null,
      customer_type: 'walk_in',
      is_active: true,
      prefer_sms: true,
      prefer_email: false,
      prefer_call: false,
      version: 1,
      merged_into: null,
      erased_at: null,
      created_at: '',
      updated_at: '',
    },
    'customer fields and defaults',
  )
  t.match(customer.created_at, ISO_UTC, 'created_at is ISO-8601 UTC')
  t.match(customer.updated_at, ISO_UTC, 'updated_at is ISO-8601 UTC')

  const row = await customerRow(database.db, 101, customer.id)
  t.ok(row, 'row stored')
  t.match(
    row,
    {
      name: 'Otieno',
      phone: null,
      email: null,
      address: null,
      customer_type: 'walk_in',
      is_active: true,
      prefer_sms: true,
      prefer_email: false,
      prefer_call: false,
    },
    'stored row has the defaults',
  )
  t.equal(Number(row?.business_id), 101, 'stored under the business of the path')
})

t.test('stores every field given', async (t) => {
  const { inject, database } = await fileServer(t)
  const res = await inject({
    method: 'POST',
    url: '/api/customers/102',
    headers: authFor(102),
    payload: {
      name: 'Wanjiru Kamau',
      phone: '0712 345 678',
      email: 'wanjiru@example.co.ke',
      address: 'Moi Avenue, Nairobi',
      customer_type: 'regular',
      prefer_sms: false,
      prefer_email: true,
      prefer_call: true,
    },
  })
  t.equal(res.statusCode, 201, 'status')
  const { customer } = res.json<CustomerCreated>()
  t.match(customer, {
    business_id: 102,
    name: 'Wanjiru Kamau',
    phone: '+254712345678',
    email: 'wanjiru@example.co.ke',
    address: 'Moi Avenue, Nairobi',
    customer_type: 'regular',
    is_active: true,
    prefer_sms: false,
    prefer_email: true,
    prefer_call: true,
  })
  const row = await customerRow(database.db, 102, customer.id)
  t.match(row, {
    name: 'Wanjiru Kamau',
    phone: '+254712345678',
    email: 'wanjiru@example.co.ke',
    address: 'Moi Avenue, Nairobi',
    customer_type: 'regular',
    is_active: true,
    prefer_sms: false,
    prefer_email: true,
    prefer_call: true,
  })
})

t.test('creates the preferences and purchase-history rows with the customer', async (t) => {
  const { inject, database } = await fileServer(t)
  const res = await inject({
    method: 'POST',
    url: '/api/customers/103',
    headers: authFor(103),
    payload: { name: 'Achieng' },
  })
  t.equal(res.statusCode, 201, 'status')
  const id = res.json<CustomerCreated>().customer.id

  const preferences = await database.db
    .selectFrom('customer_preferences')
    .selectAll()
    .where('business_id', '=', 103)
    .where('customer_id', '=', id)
    .execute()
  t.equal(preferences.length, 1, 'one preferences row')
  const [prefs] = preferences
  t.same(prefs?.favorite_products, [], 'favorite_products empty')
  t.match(prefs, {
    preferred_payment: null,
    average_spend: '0.00',
    best_contact_time: null,
    do_not_contact: false,
    can_receive_offers: true,
    can_receive_loyalty: true,
  })

  const history = await database.db
    .selectFrom('customer_purchase_history')
    .selectAll()
    .where('business_id', '=', 103)
    .where('customer_id', '=', id)
    .execute()
  t.equal(history.length, 1, 'one purchase-history row')
  t.match(history[0], {
    total_spent: '0.00',
    total_items_bought: '0.000',
    avg_transaction_value: '0.00',
    first_purchase_date: null,
    last_purchase_date: null,
    is_repeat_customer: false,
    repeat_frequency: 'new',
    customer_lifetime_value: '0.00',
  })
  t.equal(Number(history[0]?.total_purchases), 0, 'total_purchases 0')
})

t.test('customer, preferences and history are written in one transaction', async (t) => {
  const { inject, database } = await fileServer(t)
  // Make the last insert of the unit of work fail, for this business only.
  await sql`create function payme_test_refuse_history() returns trigger language plpgsql
    as $$ begin raise exception 'refused by test'; end $$`.execute(database.db)
  await sql`create trigger payme_test_refuse_history before insert on customer_purchase_history
    for each row when (new.business_id = 104) execute function payme_test_refuse_history()`.execute(
    database.db,
  )
  t.teardown(async () => {
    await sql`drop trigger payme_test_refuse_history on customer_purchase_history`.execute(
      database.db,
    )
    await sql`drop function payme_test_refuse_history()`.execute(database.db)
  })

  const res = await inject({
    method: 'POST',
    url: '/api/customers/104',
    headers: authFor(104),
    payload: { name: 'Kipchoge' },
  })
  t.equal(res.statusCode, 500, 'status')
  const body = res.json<ApiError>()
  t.equal(body.error, 'Internal server error')
  t.notOk(JSON.stringify(body).includes('refused by test'), 'no database text leaks')
  t.same(
    await countRows(database.db, 104),
    { customers: 0, preferences: 0, history: 0 },
    'the customer and its preferences were rolled back',
  )
})

t.test('trims strings before storing them', async (t) => {
  const { inject, database } = await fileServer(t)
  const res = await inject({
    method: 'POST',
    url: '/api/customers/105',
    headers: authFor(105),
    payload: {
      name: ' Wanjiru  ',
      email: '  wanjiru@example.co.ke ',
      address: '\tMoi Avenue  ',
      phone: ' 0712345678 ',
    },
  })
  t.equal(res.statusCode, 201, 'status')
  const { customer } = res.json<CustomerCreated>()
  t.equal(customer.name, 'Wanjiru', 'name returned trimmed')
  t.equal(customer.email, 'wanjiru@example.co.ke', 'email returned trimmed')
  t.equal(customer.address, 'Moi Avenue', 'address returned trimmed')
  t.equal(customer.phone, '+254712345678', 'phone normalised')
  const row = await customerRow(database.db, 105, customer.id)
  t.match(
    row,
    { name: 'Wanjiru', email: 'wanjiru@example.co.ke', address: 'Moi Avenue' },
    'stored trimmed',
  )
})

t.test('an empty optional string means the field is absent', async (t) => {
  const { inject, database } = await fileServer(t)
  const res = await inject({
    method: 'POST',
    url: '/api/customers/106',
    headers: authFor(106),
    payload: { name: 'Njeri', phone: '', email: '   ', address: '' },
  })
  t.equal(res.statusCode, 201, 'status')
  const { customer } = res.json<CustomerCreated>()
  t.match(customer, { phone: null, email: null, address: null }, 'returned as null')
  const row = await customerRow(database.db, 106, customer.id)
  t.match(row, { phone: null, email: null, address: null }, 'stored as null')
})

t.test('phone numbers are stored in E.164 (default country KE)', async (t) => {
  const { inject, database } = await fileServer(t)
  const cases = [
    { input: '0712 345 678', stored: '+254712345678' },
    { input: '0712345678', stored: '+254712345678' },
    { input: '+254712345678', stored: '+254712345678' },
    { input: '254712345678', stored: '+254712345678' },
    { input: '712345678', stored: '+254712345678' },
    { input: '(0712) 345-678', stored: '+254712345678' },
    { input: '0110 123 456', stored: '+254110123456' },
    { input: '+1 202 555 0143', stored: '+12025550143' },
  ]
  for (const c of cases) {
    const res = await inject({
      method: 'POST',
      url: '/api/customers/107',
      headers: authFor(107),
      payload: { name: 'Phone owner', phone: c.input },
    })
    t.equal(res.statusCode, 201, `${c.input}: status`)
    const { customer } = res.json<CustomerCreated>()
    t.equal(customer.phone, c.stored, `${c.input}: returned`)
    const row = await customerRow(database.db, 107, customer.id)
    t.equal(row?.phone, c.stored, `${c.input}: stored`)
  }
})

t.test('each validation rule answers 400 naming the field, and stores nothing', async (t) => {
  const { inject, database } = await fileServer(t)
  const cases: { name: string; payload: unknown; path: string; message?: RegExp }[] = [
    { name: 'name missing', payload: { phone: '0712345678' }, path: 'name' },
    { name: 'name empty after trim', payload: { name: '   ' }, path: 'name' },
    {
      name: 'name longer than 255',
      payload: { name: 'a'.repeat(256) },
      path: 'name',
      message: /255/,
    },
    { name: 'name a number', payload: { name: 42 }, path: 'name' },
    { name: 'name null', payload: { name: null }, path: 'name' },
    {
      name: 'phone longer than 20',
      payload: { name: 'A', phone: '+254 712 345 678 9012' },
      path: 'phone',
      message: /20/,
    },
    { name: 'phone unparseable (12)', payload: { name: 'A', phone: '12' }, path: 'phone' },
    { name: 'phone unparseable (abc)', payload: { name: 'A', phone: 'abc' }, path: 'phone' },
    { name: 'email invalid', payload: { name: 'A', email: 'not-an-email' }, path: 'email' },
    {
      name: 'email longer than 255',
      payload: { name: 'A', email: LONG_EMAIL },
      path: 'email',
      message: /255/,
    },
    {
      name: 'address longer than 500',
      payload: { name: 'A', address: 'x'.repeat(501) },
      path: 'address',
      message: /500/,
    },
    {
      name: 'customer_type not in the enum',
      payload: { name: 'A', customer_type: 'gold' },
      path: 'customer_type',
    },
    {
      name: 'prefer_sms a string "true" (no coercion)',
      payload: { name: 'A', prefer_sms: 'true' },
      path: 'prefer_sms',
    },
    {
      name: 'prefer_email a number',
      payload: { name: 'A', prefer_email: 1 },
      path: 'prefer_email',
    },
    { name: 'prefer_call null', payload: { name: 'A', prefer_call: null }, path: 'prefer_call' },
    { name: 'unknown field foo', payload: { name: 'A', foo: 'bar' }, path: 'foo' },
    {
      name: 'is_active is not a create field',
      payload: { name: 'A', is_active: true },
      path: 'is_active',
    },
    { name: 'body an array', payload: [{ name: 'A' }], path: 'body' },
  ]
  for (const c of cases) {
    const before = await countRows(database.db, 108)
    const res = await inject({
      method: 'POST',
      url: '/api/customers/108',
      headers: { ...authFor(108), 'content-type': 'application/json' },
      payload: JSON.stringify(c.payload),
    })
    const body = assertValidationFailed(t, res, c.path, c.name)
    if (c.message) {
      const detail = body.details?.find((d) => d.path === c.path)
      t.match(detail?.message, c.message, `${c.name}: message names the limit`)
    }
    t.same(await countRows(database.db, 108), before, `${c.name}: nothing stored`)
  }
})

t.test('a request that is not a JSON object body is refused and stores nothing', async (t) => {
  const { inject, database } = await fileServer(t)
  const json = { ...authFor(109), 'content-type': 'application/json' }
  const cases: {
    name: string
    headers: Record<string, string>
    payload: string
    status: number
    path?: string
  }[] = [
    { name: 'malformed JSON', headers: json, payload: '{"name": "A",', status: 400, path: 'body' },
    { name: 'empty JSON body', headers: json, payload: '', status: 400, path: 'body' },
    {
      name: 'text/plain',
      headers: { ...authFor(109), 'content-type': 'text/plain' },
      payload: '{"name":"A"}',
      status: 415,
    },
    {
      name: 'form encoded',
      headers: { ...authFor(109), 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'name=A',
      status: 415,
    },
    {
      name: 'body over 64 KiB',
      headers: json,
      payload: JSON.stringify({ name: 'A', address: 'x'.repeat(70_000) }),
      status: 413,
    },
  ]
  for (const c of cases) {
    const before = await countRows(database.db, 109)
    const res = await inject({
      method: 'POST',
      url: '/api/customers/109',
      headers: c.headers,
      payload: c.payload,
    })
    if (c.path) {
      assertValidationFailed(t, res, c.path, c.name)
    } else {
      t.equal(res.statusCode, c.status, `${c.name}: status`)
      t.equal(
        res.json<ApiError>().request_id,
        res.headers['x-request-id'],
        `${c.name}: request_id is x-request-id`,
      )
    }
    t.same(await countRows(database.db, 109), before, `${c.name}: nothing stored`)
  }
})

t.test('a businessId that is not a positive integer is a 400 naming it', async (t) => {
  const { inject, database } = await fileServer(t)
  const totalCustomers = async (): Promise<number> => {
    const row = await database.db
      .selectFrom('customers')
      .select((eb) => eb.fn.countAll<string | number>().as('n'))
      .executeTakeFirstOrThrow()
    return Number(row.n)
  }
  for (const businessId of ['abc', '0', '-1', '1.5']) {
    const before = await totalCustomers()
    const res = await inject({
      method: 'POST',
      url: `/api/customers/${businessId}`,
      headers: authFor(110),
      payload: { name: 'A' },
    })
    assertValidationFailed(t, res, 'businessId', `businessId ${businessId}`)
    t.equal(await totalCustomers(), before, `businessId ${businessId}: nothing stored`)
  }
})

t.test('x-request-id is echoed in the header and the error body', async (t) => {
  const { inject } = await fileServer(t)
  const created = await inject({
    method: 'POST',
    url: '/api/customers/111',
    headers: { ...authFor(111), 'x-request-id': 'create-ok-1' },
    payload: { name: 'A' },
  })
  t.equal(created.statusCode, 201, 'success: status')
  t.equal(created.headers['x-request-id'], 'create-ok-1', 'success: header echoed')

  const refused = await inject({
    method: 'POST',
    url: '/api/customers/111',
    headers: { ...authFor(111), 'x-request-id': 'create-bad-1' },
    payload: { name: '' },
  })
  t.equal(refused.statusCode, 400, 'error: status')
  t.equal(refused.headers['x-request-id'], 'create-bad-1', 'error: header echoed')
  t.equal(refused.json<ApiError>().request_id, 'create-bad-1', 'error: body request_id')
})
