import { sql } from 'kysely'
import t from 'tap'
import type { CustomerExport } from '../../../../generated/schemas/CustomerExport.js'
import { authFor, fileServer, type TestServer } from '../../../helper.js'
import { money, postEvent, withoutCustomer } from '../../../sales-feed.js'
import { recomputeBusinessHistory } from '../../../../services/purchase-history.js'
import { createCustomerId } from '../../../support/customers.js'

type Inject = TestServer['inject']

const exportOf = (inject: Inject, business: number, id: number | string, token = business) =>
  inject({
    method: 'GET',
    url: `/api/customers/${business}/${id}/export`,
    headers: authFor(token),
  })

t.test('the export holds every row kept about the customer, counted in the database', async (t) => {
  const { inject, database } = await fileServer(t)
  const db = database.db
  const business = 2201
  const id = await createCustomerId(inject, business, {
    name: 'Nyokabi Kariuki',
    phone: '0722 000 201',
    email: 'nyokabi@example.co.ke',
  })
  const other = await createCustomerId(inject, business, { name: 'Someone Else' })
  // More notes and sales than one batch (500), so the export pages through them.
  const NOTES = 620
  const SALES = 540
  await sql`insert into customer_notes (business_id, customer_id, note_type, content, created_by)
    select ${business}, ${id}, 'personal', 'Note ' || n, 1 from generate_series(1, ${NOTES}) n`.execute(
    db,
  )
  await sql`insert into customer_notes (business_id, customer_id, note_type, content, created_by)
    values (${business}, ${other}, 'personal', 'Not hers', 1)`.execute(db)
  await sql`insert into customer_sales (business_id, sale_id, customer_id, total_amount,
      items_count, payment_method, completed_at, refunded_amount, named_customer_id)
    select ${business}, 'BULK-' || lpad(n::text, 4, '0'), ${id}, 100, 1, 'cash',
      '2026-11-01'::timestamptz + n * interval '1 minute', 0, ${id}
    from generate_series(1, ${SALES}) n`.execute(db)
  // Sales written straight into the ledger bypass the feed: bring her purchase history in line,
  // as `npm run recompute` would, so the feed's next sale moves it on from the true totals.
  await recomputeBusinessHistory(db, business)
  // An M-Pesa sale the payer rule gave her: the export shows the payer's phone.
  const paid = await postEvent(
    inject,
    withoutCustomer(
      {
        id: `export-${business}-mpesa`,
        type: 'sale.completed',
        created_at: new Date().toISOString(),
        data: {
          sale_id: 'MPESA-1',
          business_id: business,
          customer_id: null,
          total_amount: money(250_00),
          items_count: 1,
          payment_method: 'mpesa',
          completed_at: '2026-11-30T08:00:00.000Z',
        },
      },
      { phone: '+254722000201' },
    ),
  )
  t.match(paid.json(), { status: 'processed', customer_id: id }, 'the payer sale is hers')
  await inject({
    method: 'PATCH',
    url: `/api/customers/${business}/${id}`,
    headers: authFor(business),
    payload: { address: 'Tom Mboya Street' },
  })

  const response = await exportOf(inject, business, id)
  t.equal(response.statusCode, 200, '200')
  t.match(response.headers['content-type'], /^application\/json/, 'JSON')
  t.equal(
    response.headers['content-disposition'],
    `attachment; filename="customer-${business}-${id}.json"`,
    'a download',
  )
  const document = response.json<CustomerExport>()
  const count = async (table: string, column = 'customer_id') => {
    const { rows } = await sql<{ n: number }>`select count(*)::int as n from ${sql.table(table)}
      where business_id = ${business} and ${sql.ref(column)} = ${id}`.execute(db)
    return rows[0]?.n
  }
  t.equal(document.customer.id, id, 'the customer')
  t.equal(document.customer.address, 'Tom Mboya Street', 'as it is now')
  t.notOk('notes' in document.customer, 'its notes are listed once, below')
  t.equal(document.preferences.customer_id, id, 'its preferences')
  t.equal(document.history.total_purchases, SALES + 1, 'its purchase history')
  t.equal(document.notes.length, await count('customer_notes'), `every note (${NOTES})`)
  t.equal(document.sales.length, await count('customer_sales'), `every sale (${SALES + 1})`)
  t.equal(document.consents.length, await count('customer_consents'), 'every consent record')
  t.ok(document.consents.length >= 5, 'the flags recorded at creation among them')
  t.equal(document.changes.length, await count('customer_changes'), 'every change')
  t.same(
    document.notes.map((note) => note.content),
    Array.from({ length: NOTES }, (_, index) => `Note ${index + 1}`),
    'notes oldest first, each once, none of another customer',
  )
  t.match(
    document.sales.find((sale) => sale.sale_id === 'MPESA-1'),
    { payer_phone: '+254722000201', matched_by: 'phone', total_amount: '250.00' },
    "the payer's phone is part of what is held",
  )
  t.same(
    document.changes.map((change) => `${change.action} by ${change.actor.replace(/:.*/, '')}`),
    ['created by user', 'updated by system', 'updated by sales-feed', 'updated by user'],
    'changes oldest first: created, the recompute of the bulk ledger, the sale, the address',
  )
})

t.test('tenancy and unknown customers', async (t) => {
  const { inject } = await fileServer(t)
  const business = 2202
  const id = await createCustomerId(inject, business, { name: 'Owino' })
  t.equal((await exportOf(inject, business, id, business + 1)).statusCode, 403, 'another token')
  const crossed = await exportOf(inject, business + 1, id)
  t.equal(crossed.statusCode, 404, "another business's customer: 404")
  t.equal(crossed.json().error, 'Customer not found', 'the contract error')
  t.equal((await exportOf(inject, business, 999_999)).statusCode, 404, 'unknown: 404')
  t.equal((await exportOf(inject, business, 'abc')).statusCode, 400, 'not an id: 400')
})
