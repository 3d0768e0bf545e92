import { sql } from 'kysely'
import type { LightMyRequestResponse } from 'fastify'
import t, { type Test } from 'tap'
import type { ApiError } from '../../../../generated/schemas/ApiError.js'
import type { Customer } from '../../../../generated/schemas/Customer.js'
import type { CustomerList } from '../../../../generated/schemas/CustomerList.js'
import { authFor, fileServer, type TestServer } from '../../../helper.js'
import { createCustomer } from '../../../support/customers.js'

type Inject = TestServer['inject']
type Query = Record<string, string | number | boolean>

function listUrl(businessId: number, query: Query = {}): string {
  const search = Object.entries(query)
    .map(([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(String(value))}`)
    .join('&')
  return `/api/customers/${businessId}${search ? `?${search}` : ''}`
}

async function createNamed(inject: Inject, businessId: number, names: string[]) {
  const customers: Customer[] = []
  // One at a time, so ids and created_at both follow creation order.
  for (const name of names) customers.push(await createCustomer(inject, businessId, { name }))
  return customers
}

async function list(inject: Inject, businessId: number, query: Query = {}) {
  return inject({ method: 'GET', url: listUrl(businessId, query), headers: authFor(businessId) })
}

async function listIds(inject: Inject, businessId: number, query: Query = {}) {
  const res = await list(inject, businessId, query)
  if (res.statusCode !== 200) throw new Error(`list failed: ${res.statusCode} ${res.body}`)
  return res.json<CustomerList>().customers.map((customer) => customer.id)
}

async function setCreatedAt(server: TestServer, customerId: number, at: string): Promise<void> {
  await sql`update customers set created_at = ${at}::timestamptz where id = ${customerId}`.execute(
    server.database.db,
  )
}

const detailPaths = (res: LightMyRequestResponse): string[] =>
  (res.json<ApiError>().details ?? []).map((detail) => detail.path)

const ascending = (ids: number[]): number[] => [...ids].sort((a, b) => a - b)
const descending = (ids: number[]): number[] => [...ids].sort((a, b) => b - a)

t.test('defaults: shape, limit 20, offset 0, newest first, active only', async (t) => {
  const server = await fileServer(t)
  const { inject } = server
  const businessId = 201
  const names = Array.from({ length: 23 }, (_, index) => `Customer ${index + 1}`)
  const customers = await createNamed(inject, businessId, names)
  const [oldest, deleted] = customers
  if (!oldest || !deleted) throw new Error('setup')
  const removed = await inject({
    method: 'DELETE',
    url: `/api/customers/${businessId}/${deleted.id}`,
    headers: authFor(businessId),
  })
  t.equal(removed.statusCode, 200, 'delete: status')
  // The oldest id becomes the newest by created_at, so the default order cannot be id order.
  await setCreatedAt(server, oldest.id, '2099-01-01T00:00:00Z')
  // Another business's customer never shows up.
  await createCustomer(inject, 202, { name: 'Someone Else' })

  const res = await list(inject, businessId)
  t.equal(res.statusCode, 200, 'status')
  const body = res.json<CustomerList>()
  t.same(Object.keys(body).sort(), ['customers', 'limit', 'next_after', 'offset', 'total'], 'shape')
  t.equal(body.limit, 20, 'limit defaults to 20')
  t.equal(body.offset, 0, 'offset defaults to 0')
  t.equal(body.total, 22, 'total counts the active customers only')
  t.equal(body.customers.length, 20, 'a page of 20')
  const ids = body.customers.map((customer) => customer.id)
  const others = customers.filter((c) => c.id !== oldest.id && c.id !== deleted.id)
  const expected = [oldest.id, ...descending(others.map((c) => c.id))].slice(0, 20)
  t.same(ids, expected, 'created_at desc: the re-dated customer first, then newest first')
  t.notOk(ids.includes(deleted.id), 'the soft-deleted customer is left out')
  t.ok(
    body.customers.every((c) => c.business_id === businessId && c.is_active),
    'only active customers of this business',
  )
  const first = body.customers[0]
  t.equal(first?.name, 'Customer 1', 'customers carry their fields')
  t.equal(first?.created_at, '2099-01-01T00:00:00.000Z', 'created_at as ISO-8601 UTC')
})

t.test('an unused business lists nothing, with or without a trailing slash', async (t) => {
  const { inject } = await fileServer(t)
  const res = await list(inject, 203)
  t.equal(res.statusCode, 200, 'status')
  t.same(
    res.json<CustomerList>(),
    { customers: [], total: 0, limit: 20, offset: 0, next_after: null },
    'body',
  )

  const slash = await inject({
    method: 'GET',
    url: '/api/customers/203/?limit=5',
    headers: authFor(203),
  })
  t.equal(slash.statusCode, 200, 'trailing slash: status')
  t.same(
    slash.json<CustomerList>(),
    { customers: [], total: 0, limit: 5, offset: 0, next_after: null },
    'trailing slash: body',
  )
})

t.test('limit and offset page through every customer; total counts them all', async (t) => {
  const { inject } = await fileServer(t)
  const businessId = 204
  const customers = await createNamed(inject, businessId, ['A', 'B', 'C', 'D', 'E'])
  const all = descending(customers.map((c) => c.id))

  const seen: number[] = []
  for (const [offset, size] of [
    [0, 2],
    [2, 2],
    [4, 1],
  ] as const) {
    const res = await list(inject, businessId, { limit: 2, offset })
    t.equal(res.statusCode, 200, `offset ${offset}: status`)
    const body = res.json<CustomerList>()
    t.equal(body.total, 5, `offset ${offset}: total counts all matching customers`)
    t.equal(body.limit, 2, `offset ${offset}: limit echoed`)
    t.equal(body.offset, offset, `offset ${offset}: offset echoed`)
    t.equal(body.customers.length, size, `offset ${offset}: page size`)
    seen.push(...body.customers.map((c) => c.id))
  }
  t.same(seen, all, 'pages neither overlap nor skip')

  const past = await list(inject, businessId, { limit: 2, offset: 10 })
  t.equal(past.statusCode, 200, 'past the end: status')
  t.same(
    past.json<CustomerList>(),
    { customers: [], total: 5, limit: 2, offset: 10, next_after: null },
    'past the end: empty page, total still counted',
  )

  for (const limit of [1, 100]) {
    const res = await list(inject, businessId, { limit })
    t.equal(res.statusCode, 200, `limit ${limit}: status`)
    t.equal(res.json<CustomerList>().customers.length, Math.min(limit, 5), `limit ${limit}: size`)
    t.equal(res.json<CustomerList>().limit, limit, `limit ${limit}: echoed`)
  }
})

t.test('query parameters are validated', async (t) => {
  const { inject } = await fileServer(t)
  const businessId = 205
  await createNamed(inject, businessId, ['Only One'])
  const cases: { name: string; query: Query; path: string }[] = [
    { name: 'limit=0', query: { limit: 0 }, path: 'limit' },
    { name: 'limit=101', query: { limit: 101 }, path: 'limit' },
    { name: 'limit=abc', query: { limit: 'abc' }, path: 'limit' },
    { name: 'limit=1.5', query: { limit: 1.5 }, path: 'limit' },
    { name: 'limit=-5', query: { limit: -5 }, path: 'limit' },
    { name: 'offset=-1', query: { offset: -1 }, path: 'offset' },
    { name: 'offset=abc', query: { offset: 'abc' }, path: 'offset' },
    { name: 'sort_by=email', query: { sort_by: 'email' }, path: 'sort_by' },
    { name: 'sort_by=NAME', query: { sort_by: 'NAME' }, path: 'sort_by' },
    { name: 'sort_order=up', query: { sort_order: 'up' }, path: 'sort_order' },
    { name: 'filter_type=gold', query: { filter_type: 'gold' }, path: 'filter_type' },
    { name: 'is_active=maybe', query: { is_active: 'maybe' }, path: 'is_active' },
    { name: 'unknown parameter', query: { colour: 'red' }, path: 'colour' },
    { name: 'unknown parameter page', query: { page: 2 }, path: 'page' },
  ]
  for (const c of cases) {
    const res = await list(inject, businessId, c.query)
    t.equal(res.statusCode, 400, `${c.name}: status`)
    const body = res.json<ApiError>()
    t.equal(body.error, 'Validation failed', `${c.name}: error`)
    t.ok(detailPaths(res).includes(c.path), `${c.name}: details name ${c.path}`)
  }
})

t.test('sort_by created_at, name and id, each ascending and descending', async (t) => {
  const server = await fileServer(t)
  const { inject } = server
  const businessId = 206
  const [c1, c2, c3] = await createNamed(inject, businessId, ['charlie', 'alpha', 'Bravo'])
  if (!c1 || !c2 || !c3) throw new Error('setup')
  // created_at order (c3, c1, c2) differs from id order and from name order.
  await setCreatedAt(server, c1.id, '2026-01-02T00:00:00Z')
  await setCreatedAt(server, c2.id, '2026-01-03T00:00:00Z')
  await setCreatedAt(server, c3.id, '2026-01-01T00:00:00Z')

  const cases: { name: string; query: Query; expected: number[] }[] = [
    { name: 'default', query: {}, expected: [c2.id, c1.id, c3.id] },
    {
      name: 'created_at asc',
      query: { sort_by: 'created_at', sort_order: 'asc' },
      expected: [c3.id, c1.id, c2.id],
    },
    {
      name: 'created_at desc',
      query: { sort_by: 'created_at', sort_order: 'desc' },
      expected: [c2.id, c1.id, c3.id],
    },
    {
      name: 'created_at, default order',
      query: { sort_by: 'created_at' },
      expected: [c2.id, c1.id, c3.id],
    },
    {
      name: 'id asc',
      query: { sort_by: 'id', sort_order: 'asc' },
      expected: [c1.id, c2.id, c3.id],
    },
    {
      name: 'id desc',
      query: { sort_by: 'id', sort_order: 'desc' },
      expected: [c3.id, c2.id, c1.id],
    },
    // Case-insensitive: alpha, Bravo, charlie (byte order would put Bravo first).
    {
      name: 'name asc',
      query: { sort_by: 'name', sort_order: 'asc' },
      expected: [c2.id, c3.id, c1.id],
    },
    {
      name: 'name desc',
      query: { sort_by: 'name', sort_order: 'desc' },
      expected: [c1.id, c3.id, c2.id],
    },
    { name: 'name, default order', query: { sort_by: 'name' }, expected: [c1.id, c3.id, c2.id] },
    { name: 'sort_order asc alone', query: { sort_order: 'asc' }, expected: [c3.id, c1.id, c2.id] },
  ]
  for (const c of cases) {
    const res = await list(inject, businessId, c.query)
    t.equal(res.statusCode, 200, `${c.name}: status`)
    t.same(
      res.json<CustomerList>().customers.map((customer) => customer.id),
      c.expected,
      `${c.name}: order`,
    )
  }
})

t.test('name sort ignores case', async (t) => {
  const { inject } = await fileServer(t)
  const businessId = 207
  const customers = await createNamed(inject, businessId, [
    'banana',
    'Cherry',
    'APPLE',
    'date',
    'Eel',
  ])
  const byName = new Map(customers.map((c) => [c.name, c.id]))
  const idsOf = (names: string[]) => names.map((name) => byName.get(name))

  const asc = await listIds(inject, businessId, { sort_by: 'name', sort_order: 'asc' })
  t.same(asc, idsOf(['APPLE', 'banana', 'Cherry', 'date', 'Eel']), 'asc ignores case')
  const desc = await listIds(inject, businessId, { sort_by: 'name', sort_order: 'desc' })
  t.same(desc, idsOf(['Eel', 'date', 'Cherry', 'banana', 'APPLE']), 'desc ignores case')
})

/** Seven customers tied on name and on created_at, stored on disk out of id order. */
async function createTiedCustomers(server: TestServer, businessId: number): Promise<number[]> {
  const names = Array.from({ length: 7 }, () => 'Same Name')
  const customers = await createNamed(server.inject, businessId, names)
  // Updating in a shuffled order moves the rows around on disk, so a read that is not sorted
  // by id does not come back in id order by chance.
  for (const index of [3, 0, 5, 1, 6, 2, 4]) {
    const customer = customers[index]
    if (customer) await setCreatedAt(server, customer.id, '2026-05-05T05:05:05Z')
  }
  return customers.map((c) => c.id)
}

/** Pages of 2 for each tied sort key and direction: no overlap, no gap, id order. */
async function checkTiedPages(t: Test, inject: Inject, businessId: number, ids: number[]) {
  for (const sortBy of ['name', 'created_at'] as const) {
    for (const sortOrder of ['asc', 'desc'] as const) {
      const name = `${sortBy} ${sortOrder}`
      const seen: number[] = []
      for (let offset = 0; offset < ids.length; offset += 2) {
        const res = await list(inject, businessId, {
          sort_by: sortBy,
          sort_order: sortOrder,
          limit: 2,
          offset,
        })
        t.equal(res.statusCode, 200, `${name} offset ${offset}: status`)
        const body = res.json<CustomerList>()
        t.equal(body.total, ids.length, `${name} offset ${offset}: total`)
        seen.push(...body.customers.map((c) => c.id))
      }
      t.equal(new Set(seen).size, seen.length, `${name}: pages never overlap`)
      t.equal(seen.length, ids.length, `${name}: pages never skip`)
      t.same(seen, sortOrder === 'asc' ? ascending(ids) : descending(ids), `${name}: id order`)
    }
  }
}

t.test('ties in the sort key are broken by id in the same direction', async (t) => {
  const server = await fileServer(t)
  const ids = await createTiedCustomers(server, 208)
  await checkTiedPages(t, server.inject, 208, ids)
})

t.test('ties are broken by id even when the planner sorts without an index', async (t) => {
  const server = await fileServer(t)
  const { db } = server.database
  // The list indexes end in id, so an index scan orders ties by itself; without them the
  // database sorts, and only the query's own tie-breaker keeps the order.
  const indexes = await sql<{ indexname: string; indexdef: string }>`
    select indexname, indexdef from pg_indexes
    where tablename = 'customers' and indexname like 'customers_list_%'`.execute(db)
  t.ok(indexes.rows.length > 0, 'the list indexes exist')
  for (const index of indexes.rows) await sql`drop index ${sql.id(index.indexname)}`.execute(db)
  t.teardown(async () => {
    for (const index of indexes.rows) await sql.raw(index.indexdef).execute(db)
  })
  const ids = await createTiedCustomers(server, 211)
  await checkTiedPages(t, server.inject, 211, ids)
})

t.test('filter_type lists one customer type', async (t) => {
  const { inject } = await fileServer(t)
  const businessId = 209
  const walkIn = await createCustomer(inject, businessId, { name: 'Walk In One' })
  const walkIn2 = await createCustomer(inject, businessId, {
    name: 'Walk In Two',
    customer_type: 'walk_in',
  })
  const vip = await createCustomer(inject, businessId, { name: 'Vip', customer_type: 'vip' })
  const regular = await createCustomer(inject, businessId, {
    name: 'Regular',
    customer_type: 'regular',
  })
  const deletedVip = await createCustomer(inject, businessId, {
    name: 'Gone Vip',
    customer_type: 'vip',
  })
  await inject({
    method: 'DELETE',
    url: `/api/customers/${businessId}/${deletedVip.id}`,
    headers: authFor(businessId),
  })

  const cases: { name: string; query: Query; expected: number[] }[] = [
    { name: 'walk_in', query: { filter_type: 'walk_in' }, expected: [walkIn2.id, walkIn.id] },
    { name: 'vip', query: { filter_type: 'vip' }, expected: [vip.id] },
    { name: 'regular', query: { filter_type: 'regular' }, expected: [regular.id] },
    { name: 'wholesale', query: { filter_type: 'wholesale' }, expected: [] },
    {
      name: 'vip, inactive',
      query: { filter_type: 'vip', is_active: false },
      expected: [deletedVip.id],
    },
  ]
  for (const c of cases) {
    const res = await list(inject, businessId, c.query)
    t.equal(res.statusCode, 200, `${c.name}: status`)
    const body = res.json<CustomerList>()
    t.same(
      body.customers.map((customer) => customer.id),
      c.expected,
      `${c.name}: customers`,
    )
    t.equal(body.total, c.expected.length, `${c.name}: total`)
  }
})

t.test('is_active=false lists the soft-deleted customers', async (t) => {
  const { inject } = await fileServer(t)
  const businessId = 210
  const [kept, gone1, gone2] = await createNamed(inject, businessId, ['Kept', 'Gone 1', 'Gone 2'])
  if (!kept || !gone1 || !gone2) throw new Error('setup')
  for (const customer of [gone1, gone2]) {
    const res = await inject({
      method: 'DELETE',
      url: `/api/customers/${businessId}/${customer.id}`,
      headers: authFor(businessId),
    })
    t.equal(res.statusCode, 200, `delete ${customer.name}: status`)
  }

  const inactive = await list(inject, businessId, { is_active: false })
  t.equal(inactive.statusCode, 200, 'is_active=false: status')
  const inactiveBody = inactive.json<CustomerList>()
  t.same(
    inactiveBody.customers.map((c) => c.id),
    [gone2.id, gone1.id],
    'is_active=false: the deleted customers, newest first',
  )
  t.ok(
    inactiveBody.customers.every((c) => !c.is_active),
    'is_active=false: all inactive',
  )
  t.equal(inactiveBody.total, 2, 'is_active=false: total')

  const active = await list(inject, businessId, { is_active: true })
  t.equal(active.statusCode, 200, 'is_active=true: status')
  t.same(
    active.json<CustomerList>().customers.map((c) => c.id),
    [kept.id],
    'is_active=true: the kept customer only',
  )
  t.equal(active.json<CustomerList>().total, 1, 'is_active=true: total')
})
