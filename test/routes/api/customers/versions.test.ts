import t from 'tap'
import type { DatabaseConnection } from '../../../../db/connect.js'
import type { CustomerCreated } from '../../../../generated/schemas/CustomerCreated.js'
import type { CustomerDeleted } from '../../../../generated/schemas/CustomerDeleted.js'
import type { CustomerResponse } from '../../../../generated/schemas/CustomerResponse.js'
import type { CustomerUpdated } from '../../../../generated/schemas/CustomerUpdated.js'
import type { PreferencesUpdated } from '../../../../generated/schemas/PreferencesUpdated.js'
import {
  authFor,
  build,
  fileServer,
  onPostgres,
  secondConnection,
  testDatabase,
  type TestServer,
} from '../../../helper.js'
import { eventsFor, postEvent } from '../../../sales-feed.js'

type Db = DatabaseConnection['db']
type Inject = TestServer['inject']

async function newCustomer(inject: Inject, businessId: number): Promise<number> {
  const response = await inject({
    method: 'POST',
    url: `/api/customers/${businessId}`,
    headers: authFor(businessId),
    payload: { name: 'Achieng Otieno', phone: '0712 345 678' },
  })
  if (response.statusCode !== 201) throw new Error(`create failed: ${response.body}`)
  return response.json<CustomerCreated>().customer.id
}

/** The customer and its preferences as stored, for before/after comparisons. */
async function storedState(db: Db, businessId: number, id: number): Promise<unknown> {
  const customer = await db
    .selectFrom('customers')
    .selectAll()
    .where('business_id', '=', businessId)
    .where('id', '=', id)
    .executeTakeFirst()
  const preferences = await db
    .selectFrom('customer_preferences')
    .selectAll()
    .where('business_id', '=', businessId)
    .where('customer_id', '=', id)
    .executeTakeFirst()
  return JSON.parse(JSON.stringify({ customer, preferences })) as unknown
}

function patchCustomer(
  inject: Inject,
  businessId: number,
  id: number,
  body: unknown,
  ifMatch?: string,
) {
  return inject({
    method: 'PATCH',
    url: `/api/customers/${businessId}/${id}`,
    headers: { ...authFor(businessId), ...(ifMatch === undefined ? {} : { 'if-match': ifMatch }) },
    payload: body as Record<string, unknown>,
  })
}

function patchPreferences(
  inject: Inject,
  businessId: number,
  id: number,
  body: unknown,
  ifMatch?: string,
) {
  return inject({
    method: 'PATCH',
    url: `/api/customers/${businessId}/${id}/preferences`,
    headers: { ...authFor(businessId), ...(ifMatch === undefined ? {} : { 'if-match': ifMatch }) },
    payload: body as Record<string, unknown>,
  })
}

function deleteCustomer(inject: Inject, businessId: number, id: number, ifMatch?: string) {
  return inject({
    method: 'DELETE',
    url: `/api/customers/${businessId}/${id}`,
    headers: { ...authFor(businessId), ...(ifMatch === undefined ? {} : { 'if-match': ifMatch }) },
  })
}

async function getCustomer(inject: Inject, businessId: number, id: number) {
  const response = await inject({
    method: 'GET',
    url: `/api/customers/${businessId}/${id}`,
    headers: authFor(businessId),
  })
  return { response, customer: response.json<CustomerResponse>().customer }
}

t.test('version: 1 at creation, one more per change, ETag on every answer', async (t) => {
  const { inject } = await fileServer(t)
  const created = await inject({
    method: 'POST',
    url: '/api/customers/1401',
    headers: authFor(1401),
    payload: { name: 'Achieng Otieno' },
  })
  t.equal(created.statusCode, 201)
  const id = created.json<CustomerCreated>().customer.id
  t.equal(created.json<CustomerCreated>().customer.version, 1, 'create: version 1')
  t.equal(created.headers.etag, '"1"', 'create: ETag "1"')

  let read = await getCustomer(inject, 1401, id)
  t.equal(read.customer.version, 1, 'get: version 1')
  t.equal(read.customer.preferences.version, 1, 'get: preferences carry the version')
  t.equal(read.response.headers.etag, '"1"', 'get: ETag "1"')

  const updated = await patchCustomer(inject, 1401, id, { customer_type: 'vip' })
  t.equal(updated.json<CustomerUpdated>().customer.version, 2, 'update: version 2')
  t.equal(updated.headers.etag, '"2"', 'update: ETag "2"')

  const unchanged = await patchCustomer(inject, 1401, id, { customer_type: 'vip' })
  t.equal(unchanged.json<CustomerUpdated>().customer.version, 3, 'an update with no new value: 3')

  const preferences = await patchPreferences(inject, 1401, id, { preferred_payment: 'cash' })
  t.equal(preferences.statusCode, 200)
  t.equal(
    preferences.json<PreferencesUpdated>().preferences.version,
    4,
    'preferences update: the customer version 4',
  )
  t.equal(preferences.headers.etag, '"4"', 'preferences: ETag "4"')

  const note = await inject({
    method: 'POST',
    url: `/api/customers/1401/${id}/notes`,
    headers: authFor(1401),
    payload: { content: 'Pays on Fridays' },
  })
  t.equal(note.statusCode, 201, 'a note')
  const events = eventsFor(
    1401,
    id,
    [
      {
        saleId: 'V-1',
        totalCents: 250_000,
        items: 2,
        completedAt: '2026-11-26T09:59:00Z',
        refundsCents: [],
        voided: false,
      },
    ],
    'versions',
  )
  for (const event of events) t.equal((await postEvent(inject, event)).statusCode, 200, 'a sale')
  read = await getCustomer(inject, 1401, id)
  t.equal(read.customer.version, 4, 'notes and sales leave the version as it was')
  t.equal(read.response.headers.etag, '"4"', 'get: ETag "4"')

  const deleted = await deleteCustomer(inject, 1401, id)
  t.equal(deleted.json<CustomerDeleted>().customer.version, 5, 'delete: 5')
  t.equal(deleted.headers.etag, '"5"', 'delete: ETag "5"')
  const deletedAgain = await deleteCustomer(inject, 1401, id)
  t.equal(deletedAgain.statusCode, 200, 'a repeated delete')
  t.equal(deletedAgain.json<CustomerDeleted>().customer.version, 6, 'a repeated delete: 6')
})

t.test('If-Match: a current tag, a list holding it, or * changes the customer', async (t) => {
  const { inject } = await fileServer(t)
  const id = await newCustomer(inject, 1402)
  const single = await patchCustomer(inject, 1402, id, { name: 'A' }, '"1"')
  t.equal(single.statusCode, 200, '"1" matches version 1')
  const list = await patchCustomer(inject, 1402, id, { name: 'B' }, '"9", "2" ,"12"')
  t.equal(list.statusCode, 200, 'a list holding "2" matches version 2')
  const any = await patchCustomer(inject, 1402, id, { name: 'C' }, '*')
  t.equal(any.statusCode, 200, '* matches any version')
  const preferences = await patchPreferences(inject, 1402, id, { do_not_contact: true }, '"4"')
  t.equal(preferences.statusCode, 200, 'preferences with the current tag')
  const removed = await deleteCustomer(inject, 1402, id, '"5"')
  t.equal(removed.statusCode, 200, 'delete with the current tag')
  t.equal(removed.headers.etag, '"6"', 'version 6 after five changes')
})

t.test(
  'If-Match naming no current version: 412 with the current ETag, nothing changed',
  async (t) => {
    const { inject, database } = await fileServer(t)
    const id = await newCustomer(inject, 1403)
    t.equal((await patchCustomer(inject, 1403, id, { name: 'Second' })).statusCode, 200)
    const before = await storedState(database.db, 1403, id)
    const cases = [
      {
        name: 'update, old tag',
        send: () => patchCustomer(inject, 1403, id, { name: 'X' }, '"1"'),
      },
      {
        name: 'update, weak tag',
        send: () => patchCustomer(inject, 1403, id, { name: 'X' }, 'W/"2"'),
      },
      {
        name: 'update, not a version',
        send: () => patchCustomer(inject, 1403, id, { name: 'X' }, '"abc"'),
      },
      { name: 'update, unquoted', send: () => patchCustomer(inject, 1403, id, { name: 'X' }, '2') },
      {
        name: 'preferences, old tag',
        send: () => patchPreferences(inject, 1403, id, { preferred_payment: 'credit' }, '"1", "3"'),
      },
      { name: 'delete, old tag', send: () => deleteCustomer(inject, 1403, id, '"1"') },
    ]
    for (const refused of cases) {
      const response = await refused.send()
      t.equal(response.statusCode, 412, `${refused.name}: status`)
      t.equal(response.headers.etag, '"2"', `${refused.name}: the current ETag`)
      t.match(response.json(), { error: 'Precondition failed' }, `${refused.name}: body`)
    }
    t.same(
      await storedState(database.db, 1403, id),
      before,
      'the customer and preferences unchanged',
    )
  },
)

t.test('If-Match on a customer that does not exist is a 404', async (t) => {
  const { inject } = await fileServer(t)
  await newCustomer(inject, 1404)
  const update = await patchCustomer(inject, 1404, 999_999, { name: 'X' }, '"1"')
  t.equal(update.statusCode, 404, 'update')
  const preferences = await patchPreferences(inject, 1404, 999_999, { do_not_contact: true }, '"1"')
  t.equal(preferences.statusCode, 404, 'preferences')
  const removed = await deleteCustomer(inject, 1404, 999_999, '*')
  t.equal(removed.statusCode, 404, 'delete')
})

t.test(
  '20 PATCHes with the same If-Match at once: one 200, 19 × 412, version one higher',
  async (t) => {
    const database = await testDatabase()
    // Two instances with their own pools on PostgreSQL; on PGlite both share the one database.
    const other = onPostgres() ? await secondConnection(10) : database
    if (other !== database) t.teardown(() => other.db.destroy())
    const first = await build(t, { database })
    const second = await build(t, { database: other })
    const id = await newCustomer(first.inject, 1405)
    const responses = await Promise.all(
      Array.from({ length: 20 }, (_, index) =>
        patchCustomer(
          index % 2 === 0 ? first.inject : second.inject,
          1405,
          id,
          { name: `Editor ${index}` },
          '"1"',
        ),
      ),
    )
    const statuses = responses.map((response) => response.statusCode)
    t.equal(statuses.filter((status) => status === 200).length, 1, 'one 200')
    t.equal(statuses.filter((status) => status === 412).length, 19, '19 × 412')
    for (const refused of responses.filter((response) => response.statusCode === 412)) {
      t.equal(refused.headers.etag, '"2"', 'each 412 names version 2')
    }
    const winner = responses.find((response) => response.statusCode === 200)
    const { customer } = await getCustomer(first.inject, 1405, id)
    t.equal(customer.version, 2, 'the version went up by exactly one')
    t.equal(
      customer.name,
      winner?.json<CustomerUpdated>().customer.name,
      "the winner's name stayed",
    )
  },
)
