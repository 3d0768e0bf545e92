import { createHash } from 'node:crypto'
import { sql } from 'kysely'
import t, { type Test } from 'tap'
import { findStalePurchaseHistory } from '../../../db/customer-purchase-history.js'
import { authFor, fileServer, type TestServer } from '../../helper.js'
import { createCustomer } from '../../support/customers.js'
import { postEvent, type SaleEventBody } from '../../sales-feed.js'

type Inject = TestServer['inject']
type Db = TestServer['database']['db']
type Payer = { phone: string } | { phone_sha256: string }

const COMPLETED_AT = '2026-11-26T09:59:00.000Z'
let sequence = 0
const nextEventId = (): string => `evt_attr_${process.pid}_${++sequence}`

/** SHA-256 of the E.164 digits, computed here independently of the service's code. */
const sha256Of = (digits: string): string => createHash('sha256').update(digits).digest('hex')

function event(
  type: SaleEventBody['type'],
  businessId: number,
  saleId: string,
  data: Record<string, unknown>,
): SaleEventBody {
  return {
    id: nextEventId(),
    type,
    created_at: new Date().toISOString(),
    data: { sale_id: saleId, business_id: businessId, customer_id: null, ...data },
  }
}

const completion = (
  businessId: number,
  saleId: string,
  payer: Payer | undefined,
  data: Record<string, unknown> = {},
): SaleEventBody =>
  event('sale.completed', businessId, saleId, {
    total_amount: '100.00',
    items_count: 1,
    payment_method: 'mpesa',
    completed_at: COMPLETED_AT,
    ...(payer ? { payer } : {}),
    ...data,
  })

const refund = (businessId: number, saleId: string, amount: string, data = {}): SaleEventBody =>
  event('sale.refunded', businessId, saleId, { refund_amount: amount, ...data })

const voiding = (businessId: number, saleId: string, data = {}): SaleEventBody =>
  event('sale.voided', businessId, saleId, data)

async function send(t: Test, inject: Inject, body: SaleEventBody, expected: object) {
  const response = await postEvent(inject, body)
  t.equal(response.statusCode, 200, `${body.data.sale_id} ${body.type}: 200`)
  t.same(response.json(), { event_id: body.id, ...expected }, `${body.data.sale_id}: answer`)
  return response
}

/** The sale's ledger row as the database holds it. */
async function ledgerRow(db: Db, businessId: number, saleId: string) {
  const { rows } = await sql<{
    customer_id: number | null
    payer_phone: string | null
    payer_phone_sha256: string | null
    matched_by: string | null
    refunded_amount: string
    voided: boolean
  }>`select customer_id, payer_phone, encode(payer_phone_sha256, 'hex') as payer_phone_sha256,
      matched_by, refunded_amount, voided
    from customer_sales where business_id = ${businessId} and sale_id = ${saleId}`.execute(db)
  return rows[0]
}

async function salesOf(db: Db, businessId: number, customerId: number | null): Promise<string[]> {
  const { rows } = await sql<{ sale_id: string }>`select sale_id from customer_sales
    where business_id = ${businessId}
      and customer_id is not distinct from ${customerId}::bigint
    order by sale_id`.execute(db)
  return rows.map((row) => row.sale_id)
}

async function get(inject: Inject, businessId: number, path: string) {
  const response = await inject({
    method: 'GET',
    url: `/api/customers/${businessId}${path}`,
    headers: authFor(businessId),
  })
  if (response.statusCode !== 200) throw new Error(`GET ${path}: ${response.statusCode}`)
  return response.json()
}

async function write(
  inject: Inject,
  method: 'POST' | 'PATCH' | 'DELETE',
  businessId: number,
  path: string,
  payload?: object,
) {
  return inject({
    method,
    url: `/api/customers/${businessId}${path}`,
    headers: authFor(businessId),
    ...(payload ? { payload } : {}),
  })
}

t.test('a payer in five phone formats, and by its hash, finds the customer', async (t) => {
  const { inject, database } = await fileServer(t)
  const business = 301
  const customer = await createCustomer(inject, business, {
    name: 'Achieng Otieno',
    phone: '0712 000 001',
  })
  const payers: { payer: Payer; matchedBy: string }[] = [
    { payer: { phone: '0712000001' }, matchedBy: 'phone' },
    { payer: { phone: '+254712000001' }, matchedBy: 'phone' },
    { payer: { phone: '254712000001' }, matchedBy: 'phone' },
    { payer: { phone: '0712 000 001' }, matchedBy: 'phone' },
    { payer: { phone: '+254 712-000-001' }, matchedBy: 'phone' },
    { payer: { phone_sha256: sha256Of('254712000001') }, matchedBy: 'phone_sha256' },
    { payer: { phone_sha256: sha256Of('254712000001').toUpperCase() }, matchedBy: 'phone_sha256' },
  ]
  for (const [index, { payer, matchedBy }] of payers.entries()) {
    const saleId = `P-${index}`
    await send(t, inject, completion(business, saleId, payer, { total_amount: '150.50' }), {
      status: 'processed',
      customer_id: customer.id,
      matched_by: matchedBy,
    })
    t.match(
      await ledgerRow(database.db, business, saleId),
      {
        customer_id: customer.id,
        payer_phone: 'phone' in payer ? '+254712000001' : null,
        payer_phone_sha256: sha256Of('254712000001'),
        matched_by: matchedBy,
      },
      `${saleId}: the payer is kept normalised, and how it matched`,
    )
  }
  const history = await get(inject, business, `/${customer.id}/history`)
  t.equal(history.total, 7, 'the history lists the seven sales')
  t.same(history.summary.total_amount, '1053.50', 'their amounts')
  const { metrics } = await get(inject, business, `/${customer.id}/metrics`)
  t.equal(metrics.total_purchases, 7, 'metrics count them')
  t.equal(metrics.total_spent, '1053.50', 'and their amounts')
  t.same(await findStalePurchaseHistory(database.db, business), [], 'cache equals the ledger')
})

t.test('the worked example: 254712345678 hashes to the documented value', async (t) => {
  t.equal(
    sha256Of('254712345678'),
    '7132104d6aae9c3fac82095a42c2817952bca48e09d98d5bf4ac08218982fb90',
  )
  const { inject, database } = await fileServer(t)
  const customer = await createCustomer(inject, 300, { name: 'Example', phone: '+254712345678' })
  const { rows } = await sql<{ hash: string }>`select encode(phone_sha256, 'hex') as hash
    from customers where business_id = 300 and id = ${customer.id}`.execute(database.db)
  t.equal(
    rows[0]?.hash,
    '7132104d6aae9c3fac82095a42c2817952bca48e09d98d5bf4ac08218982fb90',
    'the database keeps the same hash of the customer phone',
  )
  await write(inject, 'PATCH', 300, `/${customer.id}`, { phone: null })
  const cleared = await sql<{ hash: string | null }>`select phone_sha256 as hash from customers
    where business_id = 300 and id = ${customer.id}`.execute(database.db)
  t.equal(cleared.rows[0]?.hash, null, 'no phone, no hash')
})

t.test(
  'no customer with the phone: unattributed, kept in the ledger; a later create attaches exactly those sales',
  async (t) => {
    const { inject, database } = await fileServer(t)
    const db = database.db
    const business = 302
    const bystander = await createCustomer(inject, business, { name: 'Bystander' })
    const phone = { phone: '0722 000 002' }
    await send(t, inject, completion(business, 'U-1', phone, { total_amount: '1000.00' }), {
      status: 'unattributed',
    })
    await send(
      t,
      inject,
      completion(business, 'U-2', { phone: '+254722000002' }, { total_amount: '500.00' }),
      { status: 'unattributed' },
    )
    await send(
      t,
      inject,
      completion(
        business,
        'U-3',
        { phone_sha256: sha256Of('254722000002') },
        {
          total_amount: '250.00',
        },
      ),
      { status: 'unattributed' },
    )
    await send(t, inject, completion(business, 'U-OTHER', { phone: '0733 000 003' }), {
      status: 'unattributed',
    })
    // A refund and a void of waiting sales, sent without customer or payer: kept on the sale.
    await send(t, inject, refund(business, 'U-1', '200.00'), { status: 'unattributed' })
    await send(t, inject, voiding(business, 'U-3'), { status: 'unattributed' })
    t.match(
      await ledgerRow(db, business, 'U-1'),
      {
        customer_id: null,
        payer_phone: '+254722000002',
        payer_phone_sha256: sha256Of('254722000002'),
        matched_by: null,
        refunded_amount: '200.00',
      },
      'the unattributed sale is in the ledger with its payer and refund',
    )
    t.same(await salesOf(db, business, bystander.id), [], 'nobody else got the sales')

    const created = await write(inject, 'POST', business, '', {
      name: 'Walk-in Who Registers',
      phone: '0722-000-002',
    })
    t.equal(created.statusCode, 201, 'created')
    const body = created.json()
    t.equal(body.attached_sales, 3, 'the answer says three sales were attached')
    const customerId = body.customer.id as number
    t.same(await salesOf(db, business, customerId), ['U-1', 'U-2', 'U-3'], 'exactly those sales')
    t.same(await salesOf(db, business, null), ['U-OTHER'], "another payer's sale still waits")
    t.match(await ledgerRow(db, business, 'U-3'), { matched_by: 'phone_sha256' }, 'hash match')
    t.match(await ledgerRow(db, business, 'U-2'), { matched_by: 'phone' }, 'phone match')

    const history = await get(inject, business, `/${customerId}/history`)
    t.same(
      history.sales.map((sale: { sale_id: string }) => sale.sale_id).sort(),
      ['U-1', 'U-2', 'U-3'],
      'endpoint 11: the history lists them',
    )
    t.same(
      history.summary,
      { total_sales: 2, total_amount: '1300.00', avg_amount: '650.00' },
      'endpoint 11: the void left out, the refund netted',
    )
    const { metrics } = await get(inject, business, `/${customerId}/metrics`)
    t.match(
      metrics,
      { total_purchases: 2, total_spent: '1300.00', is_repeat_customer: true },
      'endpoint 10: the metrics count them',
    )
    const repeat = await get(inject, business, '/repeat')
    t.same(
      repeat.customers.map((row: { id: number }) => row.id),
      [customerId],
      'endpoint 12: a repeat customer now',
    )

    const twin = await write(inject, 'POST', business, '', { name: 'Twin', phone: '0722000002' })
    t.equal(twin.json().attached_sales, 0, 'a second customer with the phone finds none left')
    await send(t, inject, completion(business, 'U-4', phone), {
      status: 'processed',
      customer_id: customerId,
      matched_by: 'phone',
    })
    t.same(await findStalePurchaseHistory(db, business), [], 'cache equals the ledger')
  },
)

t.test('giving a customer the phone, or reactivating one that has it, attaches', async (t) => {
  const { inject, database } = await fileServer(t)
  const db = database.db
  const business = 303
  const noPhone = await createCustomer(inject, business, { name: 'No Phone Yet' })
  await send(t, inject, completion(business, 'A-1', { phone: '0711 000 004' }), {
    status: 'unattributed',
  })
  const named = await write(inject, 'PATCH', business, `/${noPhone.id}`, { name: 'Renamed' })
  t.equal(named.json().attached_sales, 0, 'a write without the phone attaches nothing')
  const phoned = await write(inject, 'PATCH', business, `/${noPhone.id}`, { phone: '0711000004' })
  t.equal(phoned.statusCode, 200)
  t.equal(phoned.json().attached_sales, 1, 'PATCH phone attaches the waiting sale')
  t.same(await salesOf(db, business, noPhone.id), ['A-1'])

  const sleeper = await createCustomer(inject, business, {
    name: 'Inactive With Phone',
    phone: '0711 000 005',
  })
  t.equal((await write(inject, 'DELETE', business, `/${sleeper.id}`)).statusCode, 200)
  await send(t, inject, completion(business, 'A-2', { phone: '0711000005' }), {
    status: 'unattributed',
  })
  t.same(await salesOf(db, business, sleeper.id), [], 'an inactive customer is not matched')
  const reactivated = await write(inject, 'PATCH', business, `/${sleeper.id}`, { is_active: true })
  t.equal(reactivated.json().attached_sales, 1, 'reactivation attaches the waiting sale')
  t.same(await salesOf(db, business, sleeper.id), ['A-2'])
  const { metrics } = await get(inject, business, `/${sleeper.id}/metrics`)
  t.equal(metrics.total_purchases, 1, 'and it counts')
  t.same(await findStalePurchaseHistory(db, business), [], 'cache equals the ledger')
})

t.test('two customers with one phone: the oldest active one', async (t) => {
  const { inject } = await fileServer(t)
  const business = 304
  const older = await createCustomer(inject, business, { name: 'Older', phone: '0710000006' })
  const newer = await createCustomer(inject, business, { name: 'Newer', phone: '+254710000006' })
  t.ok(older.id < newer.id)
  await send(t, inject, completion(business, 'O-1', { phone: '0710 000 006' }), {
    status: 'processed',
    customer_id: older.id,
    matched_by: 'phone',
  })
  await write(inject, 'DELETE', business, `/${older.id}`)
  await send(t, inject, completion(business, 'O-2', { phone: '0710 000 006' }), {
    status: 'processed',
    customer_id: newer.id,
    matched_by: 'phone',
  })
})

t.test('a payer of another business is never matched or attached', async (t) => {
  const { inject, database } = await fileServer(t)
  const db = database.db
  const here = await createCustomer(inject, 305, { name: 'Here', phone: '0799000007' })
  await send(t, inject, completion(306, 'T-1', { phone: '0799000007' }), {
    status: 'unattributed',
  })
  t.same(await salesOf(db, 305, here.id), [], "business 305's customer did not get 306's sale")
  const again = await write(inject, 'PATCH', 305, `/${here.id}`, { phone: '0799 000 007' })
  t.equal(again.json().attached_sales, 0, "giving the phone again in 305 takes nothing of 306's")
  const there = await write(inject, 'POST', 306, '', { name: 'There', phone: '0799000007' })
  t.equal(there.json().attached_sales, 1, "306's own customer takes it")
  t.same(await salesOf(db, 306, there.json().customer.id), ['T-1'])
})

t.test('with customer_id given, the payer is only stored', async (t) => {
  const { inject, database } = await fileServer(t)
  const business = 307
  const phoneOwner = await createCustomer(inject, business, { name: 'Owner', phone: '0701000008' })
  const picked = await createCustomer(inject, business, { name: 'Picked At Till' })
  await send(
    t,
    inject,
    completion(business, 'N-1', { phone: '0701000008' }, { customer_id: picked.id }),
    { status: 'processed', customer_id: picked.id },
  )
  t.match(
    await ledgerRow(database.db, business, 'N-1'),
    { customer_id: picked.id, payer_phone: '+254701000008', matched_by: null },
    'the sale is the named customer’s, the payer kept',
  )
  t.same(await salesOf(database.db, business, phoneOwner.id), [], 'the phone’s owner got nothing')
})

t.test('refunds and voids follow the sale, whoever it belongs to, in any order', async (t) => {
  const { inject, database } = await fileServer(t)
  const db = database.db
  const business = 308
  const customer = await createCustomer(inject, business, { name: 'Payer', phone: '0702000009' })
  const other = await createCustomer(inject, business, { name: 'Other' })
  const payer = { phone: '0702000009' }
  await send(t, inject, completion(business, 'R-1', payer, { total_amount: '800.00' }), {
    status: 'processed',
    customer_id: customer.id,
    matched_by: 'phone',
  })
  await send(t, inject, refund(business, 'R-1', '300.00'), {
    status: 'processed',
    customer_id: customer.id,
    matched_by: 'phone',
  })
  const mismatch = await postEvent(
    inject,
    refund(business, 'R-1', '1.00', { customer_id: other.id }),
  )
  t.equal(mismatch.statusCode, 422, 'a refund naming another customer is refused')

  // Refund first, without customer or payer; the completion with the payer comes later.
  await send(t, inject, refund(business, 'R-2', '50.00'), { status: 'ignored' })
  t.match(await ledgerRow(db, business, 'R-2'), { customer_id: null, refunded_amount: '50.00' })
  await send(t, inject, completion(business, 'R-2', payer, { total_amount: '400.00' }), {
    status: 'processed',
    customer_id: customer.id,
    matched_by: 'phone',
  })
  // Void first, then the completion naming the customer.
  await send(t, inject, voiding(business, 'R-3'), { status: 'ignored' })
  await send(t, inject, completion(business, 'R-3', undefined, { customer_id: customer.id }), {
    status: 'processed',
    customer_id: customer.id,
  })
  const { metrics } = await get(inject, business, `/${customer.id}/metrics`)
  t.match(metrics, { total_purchases: 2, total_spent: '850.00' }, 'refunds netted, void left out')
  t.same(await findStalePurchaseHistory(db, business), [], 'cache equals the ledger')
})

t.test('a bad payer is a 400 and nothing is stored', async (t) => {
  const { inject, database } = await fileServer(t)
  const business = 309
  await createCustomer(inject, business, { name: 'Someone', phone: '0703000010' })
  const cases: { name: string; payer: unknown; path: string }[] = [
    { name: 'not a number', payer: { phone: 'call me' }, path: 'data.payer.phone' },
    { name: 'too short', payer: { phone: '07123' }, path: 'data.payer.phone' },
    { name: 'empty', payer: {}, path: 'data.payer' },
    { name: 'a short hash', payer: { phone_sha256: 'abc123' }, path: 'data.payer' },
    { name: 'a hash with non-hex', payer: { phone_sha256: 'z'.repeat(64) }, path: 'data.payer' },
    {
      name: 'both forms',
      payer: { phone: '0703000010', phone_sha256: sha256Of('254703000010') },
      path: 'data.payer',
    },
    { name: 'a string', payer: '0703000010', path: 'data.payer' },
  ]
  for (const c of cases) {
    const body = completion(business, `B-${c.name}`, undefined, { payer: c.payer })
    const response = await postEvent(inject, body)
    t.equal(response.statusCode, 400, `${c.name}: 400`)
    t.equal(response.json().error, 'Validation failed', `${c.name}: the error shape`)
    t.ok(
      response.json().details.some((detail: { path: string }) => detail.path.startsWith(c.path)),
      `${c.name}: names ${c.path}`,
    )
    t.equal(await ledgerRow(database.db, business, `B-${c.name}`), undefined, `${c.name}: no row`)
  }
})

t.test('/metrics counts payer matches, unattributed sales and attachments', async (t) => {
  const { inject } = await fileServer(t)
  const business = 310
  const sample = async (pattern: RegExp): Promise<number> => {
    const body = (await inject({ method: 'GET', url: '/metrics' })).body
    return Number(body.match(pattern)?.[1] ?? 0)
  }
  const matched = /^sale_attributions_total\{outcome="processed",matched_by="phone"\} (\d+)$/m
  const unattributed =
    /^sale_attributions_total\{outcome="unattributed",matched_by="none"\} (\d+)$/m
  const attached = /^sales_attached_total (\d+)$/m
  const before = [await sample(matched), await sample(unattributed), await sample(attached)]
  await send(t, inject, completion(business, 'M-1', { phone: '0704000011' }), {
    status: 'unattributed',
  })
  const created = await write(inject, 'POST', business, '', { name: 'M', phone: '0704000011' })
  await send(t, inject, completion(business, 'M-2', { phone: '0704000011' }), {
    status: 'processed',
    customer_id: created.json().customer.id,
    matched_by: 'phone',
  })
  await send(t, inject, completion(business, 'M-3', { phone: '0704000012' }), {
    status: 'unattributed',
  })
  // The same update twice under one key: it attaches once, and its replay counts nothing.
  const patch = {
    method: 'PATCH' as const,
    url: `/api/customers/${business}/${created.json().customer.id}`,
    headers: { ...authFor(business), 'idempotency-key': 'attach-once' },
    payload: { phone: '0704000012' },
  }
  const first = await inject(patch)
  t.equal(first.json().attached_sales, 1, 'the update attaches M-3')
  const replay = await inject(patch)
  t.equal(replay.headers['idempotent-replayed'], 'true', 'the second is a replay')
  t.same(
    [await sample(matched), await sample(unattributed), await sample(attached)],
    [before[0]! + 1, before[1]! + 2, before[2]! + 2],
    'one match, two unattributed, two attached (the replay adds none)',
  )
})
