import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import type { DatabaseConnection } from '../../../../db/connect.js'
import type { ApiError } from '../../../../generated/schemas/ApiError.js'
import type { CustomerList } from '../../../../generated/schemas/CustomerList.js'
import type { CustomerUpdated } from '../../../../generated/schemas/CustomerUpdated.js'
import { authFor, fileServer, type TestServer } from '../../../helper.js'
import { createCustomer } from '../../../support/customers.js'

type Db = DatabaseConnection['db']

const FULL = {
  name: 'Wanjiru Kamau',
  phone: '0712 345 678',
  email: 'wanjiru@example.co.ke',
  address: 'Moi Avenue, Nairobi',
  customer_type: 'regular',
  prefer_sms: true,
  prefer_email: false,
  prefer_call: false,
}

/** The stored row as JSON (timestamps as ISO strings), for before/after comparisons. */
async function storedRow(db: Db, businessId: number, id: number): Promise<unknown> {
  const row = await db
    .selectFrom('customers')
    .selectAll()
    .where('business_id', '=', businessId)
    .where('id', '=', id)
    .executeTakeFirst()
  return row === undefined ? undefined : (JSON.parse(JSON.stringify(row)) as unknown)
}

function patch(
  inject: TestServer['inject'],
  businessId: number,
  id: number,
  payload: unknown,
): ReturnType<TestServer['inject']> {
  return inject({
    method: 'PATCH',
    url: `/api/customers/${businessId}/${id}`,
    headers: { ...authFor(businessId), 'content-type': 'application/json' },
    payload: JSON.stringify(payload),
  })
}

t.test('changes only the fields sent', async (t) => {
  const { inject, database } = await fileServer(t)
  const created = await createCustomer(inject, 150, FULL)
  const res = await patch(inject, 150, created.id, { customer_type: 'vip' })
  t.equal(res.statusCode, 200, 'status')
  const body = res.json<CustomerUpdated>()
  t.equal(body.message, 'Customer updated successfully')
  t.same(
    { ...body.customer, updated_at: '' },
    { ...created, customer_type: 'vip', version: 2, updated_at: '' },
    'customer_type changed, every other field as it was',
  )
  t.match(
    await storedRow(database.db, 150, created.id),
    { customer_type: 'vip', name: 'Wanjiru Kamau', phone: '+254712345678' },
    'stored',
  )
})

t.test('changes every field at once', async (t) => {
  const { inject, database } = await fileServer(t)
  const created = await createCustomer(inject, 151, FULL)
  const changes = {
    name: 'Achieng Otieno',
    phone: '0110 123 456',
    email: 'achieng@example.com',
    address: 'Kenyatta Avenue, Kisumu',
    customer_type: 'wholesale',
    prefer_sms: false,
    prefer_email: true,
    prefer_call: true,
  }
  const res = await patch(inject, 151, created.id, changes)
  t.equal(res.statusCode, 200, 'status')
  const expected = { ...changes, phone: '+254110123456' }
  t.match(res.json<CustomerUpdated>().customer, { ...expected, id: created.id, is_active: true })
  t.match(await storedRow(database.db, 151, created.id), expected, 'stored')
})

t.test('null clears phone, email and address', async (t) => {
  const { inject, database } = await fileServer(t)
  const created = await createCustomer(inject, 152, FULL)
  const res = await patch(inject, 152, created.id, { phone: null, email: null, address: null })
  t.equal(res.statusCode, 200, 'status')
  t.match(
    res.json<CustomerUpdated>().customer,
    { phone: null, email: null, address: null, name: 'Wanjiru Kamau' },
    'returned cleared',
  )
  t.match(
    await storedRow(database.db, 152, created.id),
    { phone: null, email: null, address: null, name: 'Wanjiru Kamau' },
    'stored cleared',
  )
})

t.test(
  'an empty string clears phone, email and address, as null does (the Blank schema)',
  async (t) => {
    const { inject, database } = await fileServer(t)
    for (const [field, blank] of [
      ['phone', ''],
      ['email', '  '],
      ['address', '\u200b '],
    ] as const) {
      const created = await createCustomer(inject, 157, FULL)
      const res = await patch(inject, 157, created.id, { [field]: blank })
      t.equal(res.statusCode, 200, `${field}: status`)
      const expected = {
        ...{ phone: '+254712345678', email: FULL.email, address: FULL.address },
        [field]: null,
      }
      t.match(res.json<CustomerUpdated>().customer, expected, `${field}: returned cleared`)
      t.match(await storedRow(database.db, 157, created.id), expected, `${field}: stored cleared`)
    }
  },
)

t.test('a new phone is normalised to E.164 and strings are trimmed', async (t) => {
  const { inject, database } = await fileServer(t)
  const created = await createCustomer(inject, 153, FULL)
  const cases = [
    { payload: { phone: '(0712) 999-888' }, expected: { phone: '+254712999888' } },
    { payload: { phone: '+1 202 555 0143' }, expected: { phone: '+12025550143' } },
    { payload: { phone: ' 0110 123 456 ' }, expected: { phone: '+254110123456' } },
    { payload: { name: '  Achieng ' }, expected: { name: 'Achieng' } },
    { payload: { email: ' a@example.com  ' }, expected: { email: 'a@example.com' } },
    { payload: { address: '  Kisumu ' }, expected: { address: 'Kisumu' } },
  ]
  for (const c of cases) {
    const label = JSON.stringify(c.payload)
    const res = await patch(inject, 153, created.id, c.payload)
    t.equal(res.statusCode, 200, `${label}: status`)
    t.match(res.json<CustomerUpdated>().customer, c.expected, `${label}: returned`)
    t.match(await storedRow(database.db, 153, created.id), c.expected, `${label}: stored`)
  }
})

t.test('updated_at moves forward; created_at does not change', async (t) => {
  const { inject, database } = await fileServer(t)
  const created = await createCustomer(inject, 154, FULL)
  await sleep(20)
  const res = await patch(inject, 154, created.id, { prefer_call: true })
  t.equal(res.statusCode, 200, 'status')
  const { customer } = res.json<CustomerUpdated>()
  t.equal(customer.created_at, created.created_at, 'created_at unchanged')
  t.ok(
    Date.parse(customer.updated_at) > Date.parse(created.updated_at),
    `updated_at later (${created.updated_at} → ${customer.updated_at})`,
  )
  t.match(
    await storedRow(database.db, 154, created.id),
    { created_at: created.created_at, updated_at: customer.updated_at },
    'stored timestamps',
  )
})

t.test('is_active true reactivates a soft-deleted customer', async (t) => {
  const { inject, database } = await fileServer(t)
  const created = await createCustomer(inject, 155, FULL)
  const listIds = async (): Promise<number[]> => {
    const res = await inject({ method: 'GET', url: '/api/customers/155', headers: authFor(155) })
    t.equal(res.statusCode, 200, 'list status')
    return res.json<CustomerList>().customers.map((customer) => customer.id)
  }
  const deleted = await inject({
    method: 'DELETE',
    url: `/api/customers/155/${created.id}`,
    headers: authFor(155),
  })
  t.equal(deleted.statusCode, 200, 'delete status')
  t.notOk((await listIds()).includes(created.id), 'not listed while deleted')

  const res = await patch(inject, 155, created.id, { is_active: true })
  t.equal(res.statusCode, 200, 'status')
  t.equal(res.json<CustomerUpdated>().customer.is_active, true, 'returned active')
  t.match(await storedRow(database.db, 155, created.id), { is_active: true }, 'stored active')
  t.ok((await listIds()).includes(created.id), 'listed again')
})

t.test(
  'an unknown customer, or one of another business, is a 404 and changes nothing',
  async (t) => {
    const { inject, database } = await fileServer(t)
    const ofBusiness6 = await createCustomer(inject, 6, { name: 'Of business 6' }, authFor(5, 6))
    const before = await storedRow(database.db, 6, ofBusiness6.id)
    const cases = [
      { name: 'unknown id', url: `/api/customers/5/${ofBusiness6.id + 100_000}` },
      { name: 'customer of another business', url: `/api/customers/5/${ofBusiness6.id}` },
    ]
    for (const c of cases) {
      const res = await inject({
        method: 'PATCH',
        url: c.url,
        headers: authFor(5, 6),
        payload: { name: 'Taken over' },
      })
      t.equal(res.statusCode, 404, `${c.name}: status`)
      t.same(
        res.json<ApiError>(),
        { error: 'Customer not found', request_id: res.headers['x-request-id'] },
        `${c.name}: body`,
      )
    }
    t.same(
      await storedRow(database.db, 6, ofBusiness6.id),
      before,
      'the other business row is intact',
    )
  },
)

t.test('each validation rule answers 400 naming the field, and changes nothing', async (t) => {
  const { inject, database } = await fileServer(t)
  const created = await createCustomer(inject, 156, FULL)
  const cases: { name: string; payload: unknown; path: string; message?: RegExp }[] = [
    { name: 'empty body', payload: {}, path: 'body' },
    { name: 'customer_type empty', payload: { customer_type: '' }, path: 'customer_type' },
    { name: 'name empty', payload: { name: '' }, path: 'name' },
    { name: 'name empty after trim', payload: { name: '   ' }, path: 'name' },
    { name: 'name null', payload: { name: null }, path: 'name' },
    { name: 'name a number', payload: { name: 256 }, path: 'name' },
    {
      name: 'name longer than 255',
      payload: { name: 'a'.repeat(256) },
      path: 'name',
      message: /255/,
    },
    {
      name: 'phone longer than 20',
      payload: { phone: '+254 712 345 678 9012' },
      path: 'phone',
      message: /20/,
    },
    { name: 'phone unparseable (12)', payload: { phone: '12' }, path: 'phone' },
    { name: 'phone unparseable (abc)', payload: { phone: 'abc' }, path: 'phone' },
    { name: 'email invalid', payload: { email: 'not-an-email' }, path: 'email' },
    {
      name: 'email longer than 255',
      payload: {
        email: `${'a'.repeat(60)}@${['b', 'c', 'd', 'e'].map((l) => l.repeat(60)).join('.')}.ke`,
      },
      path: 'email',
      message: /255/,
    },
    {
      name: 'address longer than 500',
      payload: { address: 'x'.repeat(501) },
      path: 'address',
      message: /500/,
    },
    {
      name: 'customer_type not in the enum',
      payload: { customer_type: 'gold' },
      path: 'customer_type',
    },
    { name: 'customer_type null', payload: { customer_type: null }, path: 'customer_type' },
    { name: 'is_active a string', payload: { is_active: 'true' }, path: 'is_active' },
    { name: 'prefer_sms a string "true"', payload: { prefer_sms: 'true' }, path: 'prefer_sms' },
    { name: 'prefer_email a number', payload: { prefer_email: 0 }, path: 'prefer_email' },
    { name: 'prefer_call null', payload: { prefer_call: null }, path: 'prefer_call' },
    { name: 'unknown field foo', payload: { foo: 'bar' }, path: 'foo' },
    { name: 'unknown field id', payload: { id: 1 }, path: 'id' },
    { name: 'unknown field beside a valid one', payload: { name: 'New', foo: 1 }, path: 'foo' },
    {
      name: 'bad phone beside a valid name',
      payload: { name: 'New', phone: 'abc' },
      path: 'phone',
    },
    { name: 'body an array', payload: [{ name: 'New' }], path: 'body' },
  ]
  for (const c of cases) {
    const before = await storedRow(database.db, 156, created.id)
    const res = await patch(inject, 156, created.id, c.payload)
    t.equal(res.statusCode, 400, `${c.name}: status`)
    const body = res.json<ApiError>()
    t.equal(body.error, 'Validation failed', `${c.name}: error`)
    const detail = body.details?.find((d) => d.path === c.path)
    t.ok(detail, `${c.name}: details name ${c.path} (got ${JSON.stringify(body.details)})`)
    if (c.message) t.match(detail?.message, c.message, `${c.name}: message names the limit`)
    t.equal(body.request_id, res.headers['x-request-id'], `${c.name}: request_id`)
    t.same(await storedRow(database.db, 156, created.id), before, `${c.name}: row unchanged`)
  }
})

t.test('a body that is not a JSON object is refused and changes nothing', async (t) => {
  const { inject, database } = await fileServer(t)
  const created = await createCustomer(inject, 157, FULL)
  const json = { ...authFor(157), 'content-type': 'application/json' }
  const cases: {
    name: string
    headers: Record<string, string>
    payload: string
    status: number
    path?: string
  }[] = [
    { name: 'malformed JSON', headers: json, payload: '{"name": ', status: 400, path: 'body' },
    { name: 'empty JSON body', headers: json, payload: '', status: 400, path: 'body' },
    {
      name: 'text/plain',
      headers: { ...authFor(157), 'content-type': 'text/plain' },
      payload: '{"name":"New"}',
      status: 415,
    },
    {
      name: 'body over 64 KiB',
      headers: json,
      payload: JSON.stringify({ address: 'x'.repeat(70_000) }),
      status: 413,
    },
  ]
  for (const c of cases) {
    const before = await storedRow(database.db, 157, created.id)
    const res = await inject({
      method: 'PATCH',
      url: `/api/customers/157/${created.id}`,
      headers: c.headers,
      payload: c.payload,
    })
    t.equal(res.statusCode, c.status, `${c.name}: status`)
    const body = res.json<ApiError>()
    if (c.path) {
      t.equal(body.error, 'Validation failed', `${c.name}: error`)
      t.ok(
        body.details?.some((d) => d.path === c.path),
        `${c.name}: details name ${c.path} (got ${JSON.stringify(body.details)})`,
      )
    }
    t.equal(body.request_id, res.headers['x-request-id'], `${c.name}: request_id`)
    t.same(await storedRow(database.db, 157, created.id), before, `${c.name}: row unchanged`)
  }
})

t.test('a path id that is not a positive integer is a 400 naming it', async (t) => {
  const { inject, database } = await fileServer(t)
  const created = await createCustomer(inject, 158, FULL)
  const before = await storedRow(database.db, 158, created.id)
  const cases = ['abc', '0', '-1', '1.5'].flatMap((bad) => [
    { name: `customerId ${bad}`, url: `/api/customers/158/${bad}`, path: 'customerId' },
    { name: `businessId ${bad}`, url: `/api/customers/${bad}/${created.id}`, path: 'businessId' },
  ])
  for (const c of cases) {
    const res = await inject({
      method: 'PATCH',
      url: c.url,
      headers: authFor(158),
      payload: { name: 'Changed' },
    })
    t.equal(res.statusCode, 400, `${c.name}: status`)
    const body = res.json<ApiError>()
    t.equal(body.error, 'Validation failed', `${c.name}: error`)
    t.ok(
      body.details?.some((detail) => detail.path === c.path),
      `${c.name}: details name ${c.path} (got ${JSON.stringify(body.details)})`,
    )
    t.equal(body.request_id, res.headers['x-request-id'], `${c.name}: request_id`)
  }
  t.same(await storedRow(database.db, 158, created.id), before, 'row unchanged')
})
