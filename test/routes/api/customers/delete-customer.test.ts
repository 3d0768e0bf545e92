import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import type { DatabaseConnection } from '../../../../db/connect.js'
import type { ApiError } from '../../../../generated/schemas/ApiError.js'
import type { CustomerDeleted } from '../../../../generated/schemas/CustomerDeleted.js'
import type { CustomerList } from '../../../../generated/schemas/CustomerList.js'
import type { CustomerUpdated } from '../../../../generated/schemas/CustomerUpdated.js'
import type { SearchResults } from '../../../../generated/schemas/SearchResults.js'
import { authFor, fileServer, type TestServer } from '../../../helper.js'
import { createCustomer } from '../../../support/customers.js'

type Db = DatabaseConnection['db']

function remove(
  inject: TestServer['inject'],
  businessId: number,
  id: number,
): ReturnType<TestServer['inject']> {
  return inject({
    method: 'DELETE',
    url: `/api/customers/${businessId}/${id}`,
    headers: authFor(businessId),
  })
}

async function storedRow(db: Db, businessId: number, id: number) {
  return db
    .selectFrom('customers')
    .selectAll()
    .where('business_id', '=', businessId)
    .where('id', '=', id)
    .executeTakeFirst()
}

async function rowsOf(
  db: Db,
  table: 'customer_notes' | 'customer_preferences' | 'customer_purchase_history',
  businessId: number,
  customerId: number,
): Promise<number> {
  const row = await db
    .selectFrom(table)
    .select((eb) => eb.fn.countAll<string | number>().as('n'))
    .where('business_id', '=', businessId)
    .where('customer_id', '=', customerId)
    .executeTakeFirstOrThrow()
  return Number(row.n)
}

t.test('soft-deletes: 200, the customer inactive, its rows kept', async (t) => {
  const { inject, database } = await fileServer(t)
  const created = await createCustomer(inject, 180, {
    name: 'Mwangi',
    phone: '0712345678',
    customer_type: 'vip',
  })
  const note = await inject({
    method: 'POST',
    url: `/api/customers/180/${created.id}/notes`,
    headers: authFor(180),
    payload: { content: 'Pays by M-Pesa' },
  })
  t.equal(note.statusCode, 201, 'note added')
  await sleep(20)

  const res = await remove(inject, 180, created.id)
  t.equal(res.statusCode, 200, 'status')
  const body = res.json<CustomerDeleted>()
  t.equal(body.message, 'Customer deleted successfully')
  t.same(
    { ...body.customer, updated_at: '' },
    { ...created, is_active: false, version: 2, updated_at: '' },
    'the customer as it was, now inactive, one version on',
  )
  t.ok(
    Date.parse(body.customer.updated_at) > Date.parse(created.updated_at),
    'updated_at moved forward',
  )

  const row = await storedRow(database.db, 180, created.id)
  t.ok(row, 'row still there')
  t.equal(row?.is_active, false, 'row inactive')
  t.equal(row?.name, 'Mwangi', 'row otherwise intact')
  t.equal(await rowsOf(database.db, 'customer_notes', 180, created.id), 1, 'notes kept')
  t.equal(await rowsOf(database.db, 'customer_preferences', 180, created.id), 1, 'preferences kept')
  t.equal(
    await rowsOf(database.db, 'customer_purchase_history', 180, created.id),
    1,
    'history kept',
  )
})

t.test('is repeatable: a second delete answers 200 and changes only the version', async (t) => {
  const { inject, database } = await fileServer(t)
  const created = await createCustomer(inject, 181, { name: 'Twice' })
  const first = await remove(inject, 181, created.id)
  t.equal(first.statusCode, 200, 'first: status')
  const afterFirst = await storedRow(database.db, 181, created.id)
  await sleep(20)

  const second = await remove(inject, 181, created.id)
  t.equal(second.statusCode, 200, 'second: status')
  const body = second.json<CustomerDeleted>()
  t.equal(body.message, 'Customer deleted successfully', 'second: message')
  t.equal(body.customer.is_active, false, 'second: inactive')
  t.equal(
    body.customer.updated_at,
    first.json<CustomerDeleted>().customer.updated_at,
    'second: updated_at unchanged',
  )
  t.equal(body.customer.version, 3, 'second: one more version (every delete is a write)')
  t.same(
    await storedRow(database.db, 181, created.id),
    { ...afterFirst, version: 3 },
    'row otherwise unchanged by the second',
  )
})

t.test(
  'a deleted customer leaves the default list, and is listed with is_active=false',
  async (t) => {
    const { inject } = await fileServer(t)
    const kept = await createCustomer(inject, 182, { name: 'Kept' })
    const gone = await createCustomer(inject, 182, { name: 'Gone' })
    t.equal((await remove(inject, 182, gone.id)).statusCode, 200, 'delete status')

    const list = async (query: string): Promise<CustomerList> => {
      const res = await inject({
        method: 'GET',
        url: `/api/customers/182${query}`,
        headers: authFor(182),
      })
      t.equal(res.statusCode, 200, `list${query}: status`)
      return res.json<CustomerList>()
    }
    const active = await list('')
    t.same(
      active.customers.map((c) => c.id),
      [kept.id],
      'default list: only the active one',
    )
    t.equal(active.total, 1, 'default list: total')
    const inactive = await list('?is_active=false')
    t.same(
      inactive.customers.map((c) => c.id),
      [gone.id],
      'is_active=false: only the deleted one',
    )
    t.equal(inactive.customers[0]?.is_active, false, 'is_active=false: shown inactive')
    t.equal(inactive.total, 1, 'is_active=false: total')
  },
)

t.test('a deleted customer is left out of search, and back after reactivation', async (t) => {
  const { inject } = await fileServer(t)
  const customer = await createCustomer(inject, 183, {
    name: 'Zawadi Njoroge',
    phone: '0722000111',
  })
  const search = async (q: string): Promise<number[]> => {
    const res = await inject({
      method: 'GET',
      url: `/api/customers/183/search?q=${encodeURIComponent(q)}`,
      headers: authFor(183),
    })
    t.equal(res.statusCode, 200, `search ${q}: status`)
    return res.json<SearchResults>().results.map((c) => c.id)
  }
  t.same(await search('zawadi'), [customer.id], 'found by name before the delete')
  t.same(await search('0722000111'), [customer.id], 'found by phone before the delete')

  t.equal((await remove(inject, 183, customer.id)).statusCode, 200, 'delete status')
  t.same(await search('zawadi'), [], 'not found by name once deleted')
  t.same(await search('0722000111'), [], 'not found by phone once deleted')

  const res = await inject({
    method: 'PATCH',
    url: `/api/customers/183/${customer.id}`,
    headers: authFor(183),
    payload: { is_active: true },
  })
  t.equal(res.statusCode, 200, 'reactivate status')
  t.equal(res.json<CustomerUpdated>().customer.is_active, true, 'reactivated')
  t.same(await search('zawadi'), [customer.id], 'found again after reactivation')
  const listed = await inject({ method: 'GET', url: '/api/customers/183', headers: authFor(183) })
  t.same(
    listed.json<CustomerList>().customers.map((c) => c.id),
    [customer.id],
    'listed again after reactivation',
  )
})

t.test(
  'an unknown customer, or one of another business, is a 404 and changes nothing',
  async (t) => {
    const { inject, database } = await fileServer(t)
    const ofBusiness6 = await createCustomer(inject, 6, { name: 'Of business 6' }, authFor(5, 6))
    const cases = [
      { name: 'unknown id', url: `/api/customers/5/${ofBusiness6.id + 100_000}` },
      { name: 'customer of another business', url: `/api/customers/5/${ofBusiness6.id}` },
    ]
    for (const c of cases) {
      const res = await inject({ method: 'DELETE', url: c.url, headers: authFor(5, 6) })
      t.equal(res.statusCode, 404, `${c.name}: status`)
      t.same(
        res.json<ApiError>(),
        { error: 'Customer not found', request_id: res.headers['x-request-id'] },
        `${c.name}: body`,
      )
    }
    const row = await storedRow(database.db, 6, ofBusiness6.id)
    t.equal(row?.is_active, true, 'the other business customer is still active')
  },
)

t.test('a path id that is not a positive integer is a 400 naming it', async (t) => {
  const { inject, database } = await fileServer(t)
  const created = await createCustomer(inject, 184, { name: 'Valid' })
  const cases = ['abc', '0', '-1', '1.5'].flatMap((bad) => [
    { name: `customerId ${bad}`, url: `/api/customers/184/${bad}`, path: 'customerId' },
    { name: `businessId ${bad}`, url: `/api/customers/${bad}/${created.id}`, path: 'businessId' },
  ])
  for (const c of cases) {
    const res = await inject({ method: 'DELETE', url: c.url, headers: authFor(184) })
    t.equal(res.statusCode, 400, `${c.name}: status`)
    const body = res.json<ApiError>()
    t.equal(body.error, 'Validation failed', `${c.name}: error`)
    t.ok(
      body.details?.some((detail) => detail.path === c.path),
      `${c.name}: details name ${c.path} (got ${JSON.stringify(body.details)})`,
    )
    t.equal(body.request_id, res.headers['x-request-id'], `${c.name}: request_id`)
  }
  const row = await storedRow(database.db, 184, created.id)
  t.equal(row?.is_active, true, 'still active')
})
