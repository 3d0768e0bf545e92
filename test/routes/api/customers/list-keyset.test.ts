import { sql } from 'kysely'
import t from 'tap'
import type { CustomerList } from '../../../../generated/schemas/CustomerList.js'
import { authFor, fileServer, type TestServer } from '../../../helper.js'

type Query = Record<string, string | number | boolean>

async function list(server: TestServer, businessId: number, query: Query) {
  const search = new URLSearchParams(
    Object.entries(query).map(([key, value]) => [key, String(value)]),
  )
  return server.inject({
    method: 'GET',
    url: `/api/customers/${businessId}?${search.toString()}`,
    headers: authFor(businessId),
  })
}

async function create(server: TestServer, businessId: number, body: Record<string, unknown>) {
  const res = await server.inject({
    method: 'POST',
    url: `/api/customers/${businessId}`,
    headers: authFor(businessId),
    payload: body,
  })
  if (res.statusCode !== 201) throw new Error(`create: ${res.statusCode} ${res.body}`)
  return res.json().customer.id as number
}

/** Every id of the list, page by page through `next_after`. */
async function walk(server: TestServer, businessId: number, query: Query): Promise<number[]> {
  const ids: number[] = []
  let after: string | null = null
  for (let page = 0; page < 50; page += 1) {
    const res = await list(server, businessId, { ...query, ...(after ? { after } : {}) })
    if (res.statusCode !== 200) throw new Error(`page ${page}: ${res.statusCode} ${res.body}`)
    const body = res.json<CustomerList>()
    ids.push(...body.customers.map((customer) => customer.id))
    after = body.next_after
    if (!after) return ids
  }
  throw new Error('the cursor never ended')
}

t.test('keyset pages give the same order as one big page, for every sort, with ties', async (t) => {
  const server = await fileServer(t)
  const businessId = 401
  // Equal names, equal created_at (set below) and mixed case: ties everywhere.
  const names = [
    'beta',
    'Alpha',
    'beta',
    'Gamma',
    'alpha',
    'beta',
    'delta',
    'Beta',
    'gamma',
    'Alpha',
    'beta',
  ]
  const ids: number[] = []
  for (const name of names)
    ids.push(await create(server, businessId, { name, customer_type: 'regular' }))
  await sql`update customers set created_at = '2026-01-01T00:00:00.123456Z'
    where business_id = ${businessId} and id = any(${ids.slice(0, 6)})`.execute(server.database.db)

  for (const sortBy of ['created_at', 'name', 'id']) {
    for (const sortOrder of ['asc', 'desc']) {
      const query = { sort_by: sortBy, sort_order: sortOrder, limit: 3 }
      const whole = await list(server, businessId, { ...query, limit: 100 })
      const expected = whole.json<CustomerList>().customers.map((customer) => customer.id)
      t.equal(expected.length, names.length, `${sortBy} ${sortOrder}: all listed`)
      t.same(
        await walk(server, businessId, query),
        expected,
        `${sortBy} ${sortOrder}: keyset pages`,
      )
      t.same(
        await walk(server, businessId, { ...query, filter_type: 'regular' }),
        expected,
        `${sortBy} ${sortOrder}: keyset pages with filter_type`,
      )
    }
  }
})

t.test('a keyset page neither repeats nor skips when customers are added meanwhile', async (t) => {
  const server = await fileServer(t)
  const businessId = 402
  for (let index = 0; index < 6; index += 1) await create(server, businessId, { name: `K${index}` })
  const first = await list(server, businessId, { sort_by: 'id', sort_order: 'asc', limit: 3 })
  const page1 = first.json<CustomerList>()
  await create(server, businessId, { name: 'Newcomer' })
  const second = await list(server, businessId, {
    sort_by: 'id',
    sort_order: 'asc',
    limit: 3,
    after: page1.next_after ?? '',
  })
  t.equal(second.statusCode, 200)
  const page2 = second.json<CustomerList>()
  t.same(
    page2.customers.map((customer) => customer.id),
    page1.customers.map((customer) => customer.id + 3),
    'the next three ids follow on',
  )
  t.equal(page2.total, 7, 'total counts the newcomer')
})

t.test('a cursor that does not fit the request is a 400 naming it', async (t) => {
  const server = await fileServer(t)
  const businessId = 403
  for (let index = 0; index < 3; index += 1) await create(server, businessId, { name: `C${index}` })
  const first = await list(server, businessId, { sort_by: 'name', limit: 1 })
  const after = first.json<CustomerList>().next_after
  t.type(after, 'string', 'a next cursor is given while more remain')
  const cases: { name: string; query: Query; path: string }[] = [
    { name: 'other sort_by', query: { sort_by: 'id', after: after ?? '' }, path: 'after' },
    {
      name: 'other sort_order',
      query: { sort_by: 'name', sort_order: 'asc', after: after ?? '' },
      path: 'after',
    },
    {
      name: 'other is_active',
      query: { sort_by: 'name', is_active: false, after: after ?? '' },
      path: 'after',
    },
    {
      name: 'other filter_type',
      query: { sort_by: 'name', filter_type: 'vip', after: after ?? '' },
      path: 'after',
    },
    {
      name: 'with offset',
      query: { sort_by: 'name', offset: 1, after: after ?? '' },
      path: 'offset',
    },
    { name: 'not base64url JSON', query: { after: 'bm90LWpzb24' }, path: 'after' },
    { name: 'bad characters', query: { after: 'a+b/c=' }, path: 'after' },
  ]
  for (const c of cases) {
    const res = await list(server, businessId, c.query)
    t.equal(res.statusCode, 400, `${c.name}: status`)
    t.ok(
      (res.json().details as { path: string }[]).some((detail) => detail.path === c.path),
      `${c.name}: names ${c.path}`,
    )
  }
  const last = await walk(server, businessId, { sort_by: 'name', limit: 3 })
  t.equal(last.length, 3, 'a page that holds the rest ends the walk (next_after null)')
})

t.test('total comes from counters that follow every change, also under concurrency', async (t) => {
  const server = await fileServer(t)
  const businessId = 404
  const ids = await Promise.all(
    Array.from({ length: 30 }, (_, index) =>
      create(server, businessId, {
        name: `N${index}`,
        customer_type: index % 3 ? 'regular' : 'vip',
      }),
    ),
  )
  await Promise.all(
    ids.slice(0, 7).map((id) =>
      server.inject({
        method: 'DELETE',
        url: `/api/customers/${businessId}/${id}`,
        headers: authFor(businessId),
      }),
    ),
  )
  await Promise.all(
    ids.slice(7, 12).map((id) =>
      server.inject({
        method: 'PATCH',
        url: `/api/customers/${businessId}/${id}`,
        headers: authFor(businessId),
        payload: { customer_type: 'wholesale' },
      }),
    ),
  )
  await server.inject({
    method: 'PATCH',
    url: `/api/customers/${businessId}/${ids[0]}`,
    headers: authFor(businessId),
    payload: { is_active: true, name: 'Back again' },
  })
  await server.inject({
    method: 'DELETE',
    url: `/api/customers/${businessId}/${ids[1]}`,
    headers: authFor(businessId),
  })

  const { rows } = await sql<{ is_active: boolean; customer_type: string; count: string }>`
    select is_active, customer_type, count(*)::text as count from customers
    where business_id = ${businessId} group by 1, 2`.execute(server.database.db)
  const counted = (isActive: boolean, type?: string) =>
    rows
      .filter((row) => row.is_active === isActive && (!type || row.customer_type === type))
      .reduce((sum, row) => sum + Number(row.count), 0)
  for (const isActive of [true, false]) {
    for (const type of [undefined, 'walk_in', 'regular', 'vip', 'wholesale']) {
      const res = await list(server, businessId, {
        is_active: isActive,
        ...(type ? { filter_type: type } : {}),
      })
      t.equal(
        res.json<CustomerList>().total,
        counted(isActive, type),
        `is_active=${isActive} ${type ?? 'any type'}: total equals count(*)`,
      )
    }
  }
})

t.test('concurrent moves between the same groups in opposite directions never fail', async (t) => {
  const server = await fileServer(t)
  const businessId = 405
  const ids = await Promise.all(
    Array.from({ length: 40 }, (_, index) =>
      create(server, businessId, {
        name: `M${index}`,
        customer_type: index % 2 ? 'regular' : 'vip',
      }),
    ),
  )
  // Every customer swaps type, over and over, all at once; half are also deleted and restored.
  const statuses: number[] = []
  for (let round = 0; round < 6; round += 1) {
    const responses = await Promise.all(
      ids.flatMap((id, index) => [
        server.inject({
          method: 'PATCH',
          url: `/api/customers/${businessId}/${id}`,
          headers: authFor(businessId),
          payload: { customer_type: (index + round) % 2 ? 'vip' : 'regular' },
        }),
        server.inject({
          method: index % 2 ? 'DELETE' : 'PATCH',
          url: `/api/customers/${businessId}/${id}`,
          headers: authFor(businessId),
          ...(index % 2 ? {} : { payload: { is_active: round % 2 === 0 } }),
        }),
      ]),
    )
    statuses.push(...responses.map((response) => response.statusCode))
  }
  t.same(
    statuses.filter((status) => status !== 200),
    [],
    'every change answered 200',
  )
  const { rows } = await sql<{ matches: boolean }>`
    select coalesce(bool_and(c.count = coalesce(x.n, 0)), true) as matches
    from customer_counts c
    left join (select id % 16 as slot, customer_type, is_active, count(*) as n from customers
               where business_id = ${businessId} group by 1, 2, 3) x
      on x.slot = c.slot and x.customer_type = c.customer_type and x.is_active = c.is_active
    where c.business_id = ${businessId}`.execute(server.database.db)
  t.equal(rows[0]?.matches, true, 'every counter equals count(*)')
})
