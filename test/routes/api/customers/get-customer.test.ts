import t from 'tap'
import type { ApiError } from '../../../../generated/schemas/ApiError.js'
import type { CustomerResponse } from '../../../../generated/schemas/CustomerResponse.js'
import { authFor, fileServer } from '../../../helper.js'
import { createCustomer } from '../../../support/customers.js'

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/

t.test('returns the customer with notes, default preferences and an empty history', async (t) => {
  const { inject } = await fileServer(t)
  const created = await createCustomer(inject, 130, {
    name: 'Wanjiru Kamau',
    phone: '0712 345 678',
    email: 'wanjiru@example.co.ke',
    address: 'Moi Avenue, Nairobi',
    customer_type: 'regular',
  })

  const res = await inject({
    method: 'GET',
    url: `/api/customers/130/${created.id}`,
    headers: authFor(130),
  })
  t.equal(res.statusCode, 200, 'status')
  const { customer } = res.json<CustomerResponse>()
  const { notes, preferences, history, ...fields } = customer
  t.same(fields, created, 'the customer fields are those of the created customer')
  t.same(notes, [], 'no notes yet')

  t.ok(Number.isInteger(preferences.id) && preferences.id > 0, 'preferences id')
  t.match(preferences.created_at, ISO_UTC, 'preferences created_at')
  t.match(preferences.updated_at, ISO_UTC, 'preferences updated_at')
  t.same(
    { ...preferences, id: 0, created_at: '', updated_at: '' },
    {
      id: 0,
      customer_id: created.id,
      business_id: 130,
      favorite_products: [],
      preferred_payment: null,
      average_spend: '0.00',
      best_contact_time: null,
      do_not_contact: false,
      can_receive_offers: true,
      can_receive_loyalty: true,
      version: 1,
      created_at: '',
      updated_at: '',
    },
    'preferences: every field, at its default',
  )

  t.ok(Number.isInteger(history.id) && history.id > 0, 'history id')
  t.match(history.created_at, ISO_UTC, 'history created_at')
  t.match(history.updated_at, ISO_UTC, 'history updated_at')
  t.same(
    { ...history, id: 0, created_at: '', updated_at: '' },
    {
      id: 0,
      customer_id: created.id,
      business_id: 130,
      total_purchases: 0,
      total_spent: '0.00',
      total_items_bought: '0.000',
      avg_transaction_value: '0.00',
      first_purchase_date: null,
      last_purchase_date: null,
      days_since_last_purchase: null,
      is_repeat_customer: false,
      repeat_frequency: 'new',
      customer_lifetime_value: '0.00',
      created_at: '',
      updated_at: '',
    },
    'history: every field, zeroed',
  )
})

t.test("lists the customer's notes, newest first, and only its own", async (t) => {
  const { inject, database } = await fileServer(t)
  const customer = await createCustomer(inject, 131, { name: 'Achieng' })
  const other = await createCustomer(inject, 131, { name: 'Someone else' })

  // Inserted out of date order, so an order by id would differ from an order by created_at.
  const notes = [
    { content: 'oldest', note_type: 'personal' as const, created_at: '2026-01-01T08:00:00.000Z' },
    { content: 'newest', note_type: 'issue' as const, created_at: '2026-03-01T08:00:00.000Z' },
    { content: 'middle', note_type: 'feedback' as const, created_at: '2026-02-01T08:00:00.000Z' },
  ]
  for (const note of notes) {
    await database.db
      .insertInto('customer_notes')
      .values({
        business_id: 131,
        customer_id: customer.id,
        created_by: 7,
        content: note.content,
        note_type: note.note_type,
        created_at: note.created_at,
        updated_at: note.created_at,
      })
      .execute()
  }
  await database.db
    .insertInto('customer_notes')
    .values({ business_id: 131, customer_id: other.id, created_by: 7, content: 'not yours' })
    .execute()

  const res = await inject({
    method: 'GET',
    url: `/api/customers/131/${customer.id}`,
    headers: authFor(131),
  })
  t.equal(res.statusCode, 200, 'status')
  const body = res.json<CustomerResponse>()
  t.same(
    body.customer.notes.map((note) => note.content),
    ['newest', 'middle', 'oldest'],
    'newest first, only this customer',
  )
  t.match(
    body.customer.notes[0],
    {
      customer_id: customer.id,
      business_id: 131,
      note_type: 'issue',
      content: 'newest',
      created_by: 7,
      created_at: '2026-03-01T08:00:00.000Z',
      updated_at: '2026-03-01T08:00:00.000Z',
    },
    'note fields',
  )
})

t.test('the history is read from its row; days_since_last_purchase is computed', async (t) => {
  const { inject, database } = await fileServer(t)
  const customer = await createCustomer(inject, 132, { name: 'Kamau' })
  const DAY = 24 * 60 * 60 * 1000
  const last = new Date(Date.now() - 3 * DAY - 60 * 60 * 1000)
  const first = new Date(Date.now() - 40 * DAY)
  await database.db
    .updateTable('customer_purchase_history')
    .set({
      total_purchases: 3,
      total_spent: '7500.00',
      total_items_bought: '4.500',
      avg_transaction_value: '2500.00',
      first_purchase_date: first,
      last_purchase_date: last,
      is_repeat_customer: true,
      repeat_frequency: 'occasional',
      customer_lifetime_value: '7500.00',
    })
    .where('business_id', '=', 132)
    .where('customer_id', '=', customer.id)
    .execute()

  const res = await inject({
    method: 'GET',
    url: `/api/customers/132/${customer.id}`,
    headers: authFor(132),
  })
  t.equal(res.statusCode, 200, 'status')
  t.match(res.json<CustomerResponse>().customer.history, {
    total_purchases: 3,
    total_spent: '7500.00',
    total_items_bought: '4.500',
    avg_transaction_value: '2500.00',
    first_purchase_date: first.toISOString(),
    last_purchase_date: last.toISOString(),
    days_since_last_purchase: 3,
    is_repeat_customer: true,
    repeat_frequency: 'occasional',
    customer_lifetime_value: '7500.00',
  })
})

t.test('a soft-deleted customer still answers 200, with is_active false', async (t) => {
  const { inject } = await fileServer(t)
  const customer = await createCustomer(inject, 133, { name: 'Mwangi' })
  const deleted = await inject({
    method: 'DELETE',
    url: `/api/customers/133/${customer.id}`,
    headers: authFor(133),
  })
  t.equal(deleted.statusCode, 200, 'delete status')

  const res = await inject({
    method: 'GET',
    url: `/api/customers/133/${customer.id}`,
    headers: authFor(133),
  })
  t.equal(res.statusCode, 200, 'status')
  const body = res.json<CustomerResponse>()
  t.equal(body.customer.id, customer.id, 'the same customer')
  t.equal(body.customer.is_active, false, 'is_active false')
  t.equal(body.customer.preferences.customer_id, customer.id, 'preferences kept')
  t.equal(body.customer.history.customer_id, customer.id, 'history kept')
})

t.test('an unknown customer, or one of another business, is a 404', async (t) => {
  const { inject } = await fileServer(t)
  const ofBusiness6 = await createCustomer(inject, 6, { name: 'Of business 6' }, authFor(5, 6))
  const mine = await createCustomer(inject, 5, { name: 'Of business 5' }, authFor(5, 6))
  const cases = [
    { name: 'unknown id', url: `/api/customers/5/${mine.id + 100_000}` },
    { name: 'largest id', url: '/api/customers/5/9007199254740991' },
    { name: 'customer of another business', url: `/api/customers/5/${ofBusiness6.id}` },
    { name: 'own customer in a business without it', url: `/api/customers/6/${mine.id}` },
  ]
  for (const c of cases) {
    const res = await inject({ method: 'GET', url: c.url, headers: authFor(5, 6) })
    t.equal(res.statusCode, 404, `${c.name}: status`)
    t.same(
      res.json<ApiError>(),
      { error: 'Customer not found', request_id: res.headers['x-request-id'] },
      `${c.name}: body`,
    )
  }
})

t.test('a path id that is not a positive integer is a 400 naming it', async (t) => {
  const { inject } = await fileServer(t)
  const customer = await createCustomer(inject, 134, { name: 'Valid' })
  const cases = ['abc', '0', '-1', '1.5'].flatMap((bad) => [
    { name: `customerId ${bad}`, url: `/api/customers/134/${bad}`, path: 'customerId' },
    { name: `businessId ${bad}`, url: `/api/customers/${bad}/${customer.id}`, path: 'businessId' },
  ])
  for (const c of cases) {
    const res = await inject({ method: 'GET', url: c.url, headers: authFor(134) })
    t.equal(res.statusCode, 400, `${c.name}: status`)
    const body = res.json<ApiError>()
    t.equal(body.error, 'Validation failed', `${c.name}: error`)
    t.ok(
      body.details?.some((detail) => detail.path === c.path),
      `${c.name}: details name ${c.path} (got ${JSON.stringify(body.details)})`,
    )
    t.equal(body.request_id, res.headers['x-request-id'], `${c.name}: request_id`)
  }
})
