import { sql } from 'kysely'
import t from 'tap'
import type { CustomerChange } from '../../../../generated/schemas/CustomerChange.js'
import type { CustomerChanges } from '../../../../generated/schemas/CustomerChanges.js'
import type { CustomersMerged } from '../../../../generated/schemas/CustomersMerged.js'
import { authFor, bearer, fileServer, tokenFor, type TestServer } from '../../../helper.js'
import { postEvent } from '../../../sales-feed.js'
import { assertValidationFailed } from '../../../support/assertions.js'

type Inject = TestServer['inject']

async function write(
  inject: Inject,
  method: 'POST' | 'PATCH' | 'DELETE',
  url: string,
  business: number,
  payload?: object,
  sub = 1,
) {
  const response = await inject({
    method,
    url: `/api/customers/${business}${url}`,
    headers: bearer(tokenFor({ sub, businesses: [business] })),
    ...(payload ? { payload } : {}),
  })
  if (response.statusCode >= 300) throw new Error(`${method} ${url}: ${response.body}`)
  return response
}

async function changesOf(inject: Inject, business: number, id: number, query = '') {
  const response = await inject({
    method: 'GET',
    url: `/api/customers/${business}/${id}/changes${query}`,
    headers: authFor(business),
  })
  return response
}

async function latest(inject: Inject, business: number, id: number): Promise<CustomerChange> {
  const response = await changesOf(inject, business, id, '?limit=1')
  const change = response.json<CustomerChanges>().changes[0]
  if (!change) throw new Error('no change')
  return change
}

t.test('every write path records one change: actor, request id, action, field diffs', async (t) => {
  const { inject } = await fileServer(t)
  const business = 2101
  const created = await write(inject, 'POST', '', business, {
    name: 'Achieng Odhiambo',
    phone: '0712 000 101',
    customer_type: 'regular',
  })
  const id = created.json().customer.id as number
  const creation = await latest(inject, business, id)
  t.equal(creation.action, 'created', 'create: created')
  t.equal(creation.actor, 'user:1', "create: the token's sub")
  t.equal(creation.request_id, created.headers['x-request-id'], 'create: its request id')
  t.same(
    [creation.fields.name, creation.fields.phone, creation.fields.customer_type],
    [
      { from: null, to: 'Achieng Odhiambo' },
      { from: null, to: '+254712000101' },
      { from: null, to: 'regular' },
    ],
    'create: every field from null, preferences among them',
  )
  t.same(creation.fields.do_not_contact, { from: null, to: false }, 'create: the preferences too')
  t.notOk('version' in creation.fields, 'create: no version, no timestamps')

  const updated = await write(
    inject,
    'PATCH',
    `/${id}`,
    business,
    { customer_type: 'vip', name: 'Achieng Odhiambo' },
    7,
  )
  const update = await latest(inject, business, id)
  t.match(
    update,
    {
      action: 'updated',
      actor: 'user:7',
      request_id: updated.headers['x-request-id'],
      fields: { customer_type: { from: 'regular', to: 'vip' } },
    },
    'update: only the field that moved',
  )
  t.same(Object.keys(update.fields), ['customer_type'], 'update: the unchanged name is not listed')

  await write(inject, 'PATCH', `/${id}/preferences`, business, { favorite_products: [3, 1] })
  t.match(
    await latest(inject, business, id),
    { action: 'updated', fields: { favorite_products: { from: [], to: [3, 1] } } },
    'preferences: their fields',
  )

  const consent = await write(inject, 'POST', `/${id}/consents`, business, {
    channel: 'whatsapp',
    purpose: 'marketing',
    status: 'granted',
    source: 'in_store',
  })
  t.match(
    await latest(inject, business, id),
    {
      action: 'consent_changed',
      request_id: consent.headers['x-request-id'],
      fields: { 'consent:whatsapp:marketing': { from: null, to: 'granted' } },
    },
    'a consent: its pair from no record to granted',
  )
  t.notOk(
    'can_receive_offers' in (await latest(inject, business, id)).fields,
    'offers were already on (sms marketing): no flag moved',
  )

  await write(inject, 'PATCH', `/${id}`, business, { name: 'Achieng Odhiambo' })
  t.match(
    await latest(inject, business, id),
    { action: 'updated', fields: {} },
    'a write that moves no value: a change with no fields (its version moved)',
  )

  await write(inject, 'DELETE', `/${id}`, business)
  t.match(
    await latest(inject, business, id),
    { action: 'deleted', fields: { is_active: { from: true, to: false } } },
    'delete',
  )
  await write(inject, 'DELETE', `/${id}`, business)
  t.match(
    await latest(inject, business, id),
    { action: 'deleted', fields: {} },
    'a repeated delete is still a delete',
  )
  await write(inject, 'PATCH', `/${id}`, business, { is_active: true })
  t.match(
    await latest(inject, business, id),
    { action: 'reactivated', fields: { is_active: { from: false, to: true } } },
    'reactivation',
  )

  const sale = await postEvent(inject, {
    id: `changes-${business}-1`,
    type: 'sale.completed',
    created_at: new Date().toISOString(),
    data: {
      sale_id: `CH-${business}-1`,
      business_id: business,
      customer_id: id,
      total_amount: '1500.00',
      items_count: 2,
      payment_method: 'mpesa',
      completed_at: '2026-11-30T10:00:00.000Z',
    },
  })
  t.equal(sale.statusCode, 200, 'the sale is processed')
  t.match(
    await latest(inject, business, id),
    {
      action: 'updated',
      actor: 'sales-feed',
      request_id: sale.headers['x-request-id'],
      fields: { average_spend: { from: '0.00', to: '1500.00' } },
    },
    "a sale's effect on the customer is the sales feed's",
  )
  // A redelivery changes nothing, so it records nothing.
  const before = (await changesOf(inject, business, id, '?limit=100')).json<CustomerChanges>()
  await postEvent(inject, {
    id: `changes-${business}-1`,
    type: 'sale.completed',
    created_at: new Date().toISOString(),
    data: {
      sale_id: `CH-${business}-1`,
      business_id: business,
      customer_id: id,
      total_amount: '1500.00',
      items_count: 2,
      payment_method: 'mpesa',
      completed_at: '2026-11-30T10:00:00.000Z',
    },
  })
  t.same(
    (await changesOf(inject, business, id, '?limit=100')).json<CustomerChanges>(),
    before,
    'a redelivered event adds no change',
  )
  t.same(
    before.changes.map((change) => change.action),
    [
      'updated',
      'reactivated',
      'deleted',
      'deleted',
      'updated',
      'consent_changed',
      'updated',
      'updated',
      'created',
    ],
    'newest first, one per write',
  )
})

t.test('merge and undo: merged and unmerged, on the target and the source', async (t) => {
  const { inject } = await fileServer(t)
  const business = 2102
  const target = (await write(inject, 'POST', '', business, { name: 'Juma Ali' })).json().customer
    .id as number
  const source = (
    await write(inject, 'POST', '', business, { name: 'Juma Ali', email: 'juma@example.co.ke' })
  ).json().customer.id as number
  const merged = await write(inject, 'POST', `/${target}/merge`, business, {
    source_ids: [source],
  })
  t.match(
    await latest(inject, business, target),
    {
      action: 'merged',
      request_id: merged.headers['x-request-id'],
      fields: { email: { from: null, to: 'juma@example.co.ke' } },
    },
    'target: merged, with the field it was filled with',
  )
  t.match(
    await latest(inject, business, source),
    {
      action: 'merged',
      fields: { merged_into: { from: null, to: target }, is_active: { from: true, to: false } },
    },
    'source: merged into the target',
  )
  const mergeId = merged.json<CustomersMerged>().merge.id
  await write(inject, 'POST', `/merges/${mergeId}/undo`, business)
  t.match(
    await latest(inject, business, target),
    { action: 'unmerged', fields: { email: { from: 'juma@example.co.ke', to: null } } },
    'target: unmerged, the filled field cleared',
  )
  t.match(
    await latest(inject, business, source),
    { action: 'unmerged', fields: { merged_into: { from: target, to: null } } },
    'source: unmerged',
  )
})

t.test('changes of one transaction are one change; a field keeps its first from', async (t) => {
  const { inject, database } = await fileServer(t)
  const business = 2103
  const id = (await write(inject, 'POST', '', business, { name: 'Wairimu' })).json().customer
    .id as number
  await database.db.transaction().execute(async (trx) => {
    await sql`update customers set name = 'Wairimu N' where business_id = ${business} and id = ${id}`.execute(
      trx,
    )
    await sql`update customers set name = 'Wairimu Njeri' where business_id = ${business} and id = ${id}`.execute(
      trx,
    )
  })
  const change = await latest(inject, business, id)
  t.match(
    change,
    {
      actor: 'system',
      request_id: null,
      fields: { name: { from: 'Wairimu', to: 'Wairimu Njeri' } },
    },
    'outside a request: the system; both statements in one change',
  )
})

t.test('paging: newest first, never a repeat, cursors bound to the customer', async (t) => {
  const { inject } = await fileServer(t)
  const business = 2104
  const id = (await write(inject, 'POST', '', business, { name: 'Kiprono' })).json().customer
    .id as number
  const other = (await write(inject, 'POST', '', business, { name: 'Chebet' })).json().customer
    .id as number
  for (let i = 0; i < 6; i++) {
    await write(inject, 'PATCH', `/${id}`, business, { address: `Plot ${i}` })
  }
  const seen: string[] = []
  let query = '?limit=3'
  for (let page = 0; page < 5; page++) {
    const response = await changesOf(inject, business, id, query)
    t.equal(response.statusCode, 200, `page ${page}: 200`)
    const body = response.json<CustomerChanges>()
    seen.push(...body.changes.map((change) => JSON.stringify(change)))
    if (body.next === null) break
    query = `?limit=3&after=${body.next}`
  }
  t.equal(seen.length, 7, 'the creation and six updates')
  t.equal(new Set(seen).size, 7, 'no change twice')
  t.same(
    seen.map((change) => (JSON.parse(change) as CustomerChange).fields.address?.to ?? null),
    ['Plot 5', 'Plot 4', 'Plot 3', 'Plot 2', 'Plot 1', 'Plot 0', null],
    'newest first',
  )
  const first = (await changesOf(inject, business, id, '?limit=1')).json<CustomerChanges>()
  const cases: { name: string; url: string; path: string }[] = [
    {
      name: "another customer's cursor",
      url: `/${other}/changes?after=${first.next}`,
      path: 'after',
    },
    { name: 'not a cursor', url: `/${id}/changes?after=abc`, path: 'after' },
    { name: 'limit 0', url: `/${id}/changes?limit=0`, path: 'limit' },
    { name: 'limit 101', url: `/${id}/changes?limit=101`, path: 'limit' },
    { name: 'a customer id that is not one', url: `/x/changes`, path: 'customerId' },
  ]
  for (const c of cases) {
    const response = await inject({
      method: 'GET',
      url: `/api/customers/${business}${c.url}`,
      headers: authFor(business),
    })
    assertValidationFailed(t, response, c.path, c.name)
  }
})

t.test('tenancy: another business is 403, its customer and an unknown one 404', async (t) => {
  const { inject } = await fileServer(t)
  const business = 2105
  const id = (await write(inject, 'POST', '', business, { name: 'Mwangi' })).json().customer
    .id as number
  const foreign = await inject({
    method: 'GET',
    url: `/api/customers/${business}/${id}/changes`,
    headers: authFor(business + 1),
  })
  t.equal(foreign.statusCode, 403, "another business's token: 403")
  const crossed = await inject({
    method: 'GET',
    url: `/api/customers/${business + 1}/${id}/changes`,
    headers: authFor(business + 1),
  })
  t.equal(crossed.statusCode, 404, "another business's customer: 404")
  t.equal(crossed.json().error, 'Customer not found', 'the contract error')
  const unknown = await changesOf(inject, business, 999_999)
  t.equal(unknown.statusCode, 404, 'an unknown customer: 404')
})

t.test('a bulk write of many customers in one transaction: still one change each', async (t) => {
  const { database } = await fileServer(t)
  const db = database.db
  const business = 2106
  await sql`insert into businesses (id) values (${business}) on conflict do nothing`.execute(db)
  // Past the 64 customers a transaction remembers: the later rows are found by their index.
  await db.transaction().execute(async (trx) => {
    await sql`insert into customers (business_id, name)
      select ${business}, 'Bulk ' || n from generate_series(1, 150) n`.execute(trx)
    await sql`insert into customer_preferences (business_id, customer_id)
      select business_id, id from customers where business_id = ${business}`.execute(trx)
    await sql`update customer_preferences set favorite_products = '{7}'
      where business_id = ${business}`.execute(trx)
  })
  const { rows } = await sql<{ changes: number; customers: number; merged: number }>`
    select count(*)::int as changes, count(distinct customer_id)::int as customers,
      count(*) filter (where fields ? 'name' and fields ? 'favorite_products')::int as merged
    from customer_changes where business_id = ${business}`.execute(db)
  t.same(rows[0], { changes: 150, customers: 150, merged: 150 }, 'one change per customer')
})
