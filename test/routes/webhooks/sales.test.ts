import { setTimeout as sleep } from 'node:timers/promises'
import type { LightMyRequestResponse } from 'fastify'
import t from 'tap'
import {
  findPurchaseHistory,
  findStalePurchaseHistory,
} from '../../../db/customer-purchase-history.js'
import type { ApiError } from '../../../generated/schemas/ApiError.js'
import type { WebhookResult } from '../../../generated/schemas/WebhookResult.js'
import { nowSeconds, sign, signatureHeader } from '../../../lib/webhook-signature.js'
import { build, fileServer, TEST_WEBHOOK_SECRET, type TestServer } from '../../helper.js'
import { createCustomer } from '../../support/customers.js'

type Inject = TestServer['inject']
type Db = TestServer['database']['db']
type Json = Record<string, unknown>

const WEBHOOK_URL = '/webhooks/sales'

interface EventData extends Json {
  sale_id: string
  business_id: number
  customer_id: number | null
}

interface SaleEventBody extends Json {
  id: string
  type: string
  created_at: string
  data: EventData
}

let sequence = 0
const nextEventId = (): string => `evt_${process.pid}_${++sequence}`

const COMPLETED_AT = '2026-11-26T09:59:00.000Z'

function completed(
  businessId: number,
  customerId: number | null,
  saleId: string,
  data: Json = {},
): SaleEventBody {
  return {
    id: nextEventId(),
    type: 'sale.completed',
    created_at: '2026-11-26T09:59:01Z',
    data: {
      sale_id: saleId,
      business_id: businessId,
      customer_id: customerId,
      total_amount: '2500.00',
      items_count: 3,
      payment_method: 'mpesa',
      completed_at: COMPLETED_AT,
      ...data,
    },
  }
}

function refunded(
  businessId: number,
  customerId: number | null,
  saleId: string,
  refundAmount: string | number | undefined,
): SaleEventBody {
  return {
    id: nextEventId(),
    type: 'sale.refunded',
    created_at: '2026-11-26T10:20:00Z',
    data: {
      sale_id: saleId,
      business_id: businessId,
      customer_id: customerId,
      ...(refundAmount === undefined ? {} : { refund_amount: refundAmount }),
    },
  }
}

function voided(businessId: number, customerId: number | null, saleId: string): SaleEventBody {
  return {
    id: nextEventId(),
    type: 'sale.voided',
    created_at: '2026-11-26T10:21:00Z',
    data: { sale_id: saleId, business_id: businessId, customer_id: customerId },
  }
}

interface SendOptions {
  /** The PayMe-Signature header; null sends none; default: signed now with the test secret. */
  signature?: string | null
  contentType?: string
  /** Raw bytes to send instead of the signed body. */
  sentBody?: string
}

/** Posts one event as the sales service would: serialized, signed, as application/json. */
async function post(
  inject: Inject,
  event: unknown,
  options: SendOptions = {},
): Promise<LightMyRequestResponse> {
  const body = typeof event === 'string' ? event : JSON.stringify(event)
  const signature =
    options.signature === undefined ? signatureHeader(TEST_WEBHOOK_SECRET, body) : options.signature
  const headers: Record<string, string> = {
    'content-type': options.contentType ?? 'application/json',
  }
  if (signature !== null) headers['payme-signature'] = signature
  return inject({ method: 'POST', url: WEBHOOK_URL, headers, payload: options.sentBody ?? body })
}

/** Posts an event that must be processed; anything else stops the test's setup. */
async function apply(inject: Inject, event: SaleEventBody): Promise<void> {
  const res = await post(inject, event)
  const status = res.statusCode === 200 ? res.json<WebhookResult>().status : undefined
  if (status !== 'processed') {
    throw new Error(`event ${event.id} not processed: ${res.statusCode} ${res.body}`)
  }
}

/** A plain-JSON copy of rows (dates as ISO strings) for deep comparison. */
const plain = (value: unknown): unknown => JSON.parse(JSON.stringify(value ?? null))

async function countRows(db: Db, table: 'customer_sales' | 'sales_events'): Promise<number> {
  const row = await db
    .selectFrom(table)
    .select((eb) => eb.fn.countAll<string | number>().as('n'))
    .executeTakeFirstOrThrow()
  return Number(row.n)
}

/** Everything a rejected event must leave as it was. */
async function snapshot(db: Db, businessId: number, customerId: number) {
  const sales = await db
    .selectFrom('customer_sales')
    .selectAll()
    .where('business_id', '=', businessId)
    .orderBy('sale_id')
    .execute()
  return {
    customer_sales: await countRows(db, 'customer_sales'),
    sales_events: await countRows(db, 'sales_events'),
    history: plain(await findPurchaseHistory(db, businessId, customerId)),
    sales_of_business: plain(sales),
  }
}

/** The cached totals of a customer, as stored. */
async function totals(db: Db, businessId: number, customerId: number) {
  const row = await findPurchaseHistory(db, businessId, customerId)
  if (!row) throw new Error(`no purchase history for customer ${customerId}`)
  return {
    total_purchases: Number(row.total_purchases),
    total_spent: row.total_spent,
    customer_lifetime_value: row.customer_lifetime_value,
    avg_transaction_value: row.avg_transaction_value,
    total_items_bought: row.total_items_bought,
  }
}

/** The history row without the columns that identify it or only record when it was written. */
async function cachedFigures(db: Db, businessId: number, customerId: number) {
  const row = await findPurchaseHistory(db, businessId, customerId)
  if (!row) throw new Error(`no purchase history for customer ${customerId}`)
  return plain({
    total_purchases: Number(row.total_purchases),
    total_spent: row.total_spent,
    total_items_bought: row.total_items_bought,
    avg_transaction_value: row.avg_transaction_value,
    first_purchase_date: row.first_purchase_date,
    last_purchase_date: row.last_purchase_date,
    is_repeat_customer: row.is_repeat_customer,
    repeat_frequency: row.repeat_frequency,
    customer_lifetime_value: row.customer_lifetime_value,
  })
}

/** The ledger rows of a customer without identifying or bookkeeping columns, by sale order. */
async function ledgerFigures(db: Db, businessId: number, customerId: number) {
  const rows = await db
    .selectFrom('customer_sales')
    .select([
      'total_amount',
      'items_count',
      'payment_method',
      'completed_at',
      'refunded_amount',
      'voided',
    ])
    .where('business_id', '=', businessId)
    .where('customer_id', '=', customerId)
    .orderBy('sale_id')
    .execute()
  return plain(rows)
}

async function storedSale(db: Db, businessId: number, saleId: string) {
  return db
    .selectFrom('customer_sales')
    .selectAll()
    .where('business_id', '=', businessId)
    .where('sale_id', '=', saleId)
    .executeTakeFirst()
}

/** A copy of an object without one of its fields. */
const without = (object: Json, field: string): Json =>
  Object.fromEntries(Object.entries(object).filter(([key]) => key !== field))

const detailPaths = (res: LightMyRequestResponse): string[] =>
  (res.json<ApiError>().details ?? []).map((detail) => detail.path)

/** Waits until the clock is early in its second, so a ±1 s boundary cannot tick over mid-request. */
async function earlyInSecond(): Promise<void> {
  const intoSecond = Date.now() % 1000
  if (intoSecond > 300) await sleep(1000 - intoSecond + 5)
}

t.test('a bad or missing signature is a 401 and nothing is stored', async (t) => {
  const { inject, database } = await fileServer(t)
  const db = database.db
  const businessId = 201
  const customer = await createCustomer(inject, businessId, { name: 'Sales Subject' })
  await apply(inject, completed(businessId, customer.id, 'S-SETUP'))

  const wrongHex = 'ab'.repeat(32)
  const cases: { name: string; send: () => Promise<LightMyRequestResponse> }[] = [
    {
      name: 'signature missing',
      send: () => post(inject, completed(businessId, customer.id, 'S-1'), { signature: null }),
    },
    {
      name: 'signature header empty',
      send: () => post(inject, completed(businessId, customer.id, 'S-1'), { signature: '' }),
    },
    {
      name: 'signature header without t=',
      send: () =>
        post(inject, completed(businessId, customer.id, 'S-1'), { signature: `v1=${wrongHex}` }),
    },
    {
      name: 'signature header without v1=',
      send: () =>
        post(inject, completed(businessId, customer.id, 'S-1'), { signature: `t=${nowSeconds()}` }),
    },
    {
      name: 'wrong secret',
      send: () => {
        const body = JSON.stringify(completed(businessId, customer.id, 'S-1'))
        return post(inject, body, { signature: signatureHeader('not-the-secret-xxxxxxxx', body) })
      },
    },
    {
      name: 'a v1 that is no HMAC at all',
      send: () =>
        post(inject, completed(businessId, customer.id, 'S-1'), {
          signature: `t=${nowSeconds()},v1=${wrongHex}`,
        }),
    },
    {
      name: 'stale timestamp (now - 301 s)',
      send: async () => {
        await earlyInSecond()
        const body = JSON.stringify(completed(businessId, customer.id, 'S-1'))
        return post(inject, body, {
          signature: signatureHeader(TEST_WEBHOOK_SECRET, body, nowSeconds() - 301),
        })
      },
    },
    {
      name: 'future timestamp (now + 301 s)',
      send: async () => {
        await earlyInSecond()
        const body = JSON.stringify(completed(businessId, customer.id, 'S-1'))
        return post(inject, body, {
          signature: signatureHeader(TEST_WEBHOOK_SECRET, body, nowSeconds() + 301),
        })
      },
    },
    {
      name: 'signature of another timestamp than the one sent',
      send: () => {
        const body = JSON.stringify(completed(businessId, customer.id, 'S-1'))
        const now = nowSeconds()
        return post(inject, body, {
          signature: `t=${now},v1=${sign(TEST_WEBHOOK_SECRET, now - 1, body)}`,
        })
      },
    },
    {
      name: 'body altered after signing',
      send: () => {
        const event = completed(businessId, customer.id, 'S-1')
        const signed = JSON.stringify(event)
        const altered = JSON.stringify({ ...event, data: { ...event.data, total_amount: '1.00' } })
        return post(inject, signed, { sentBody: altered })
      },
    },
    {
      name: 'body with a byte appended after signing',
      send: () => {
        const signed = JSON.stringify(completed(businessId, customer.id, 'S-1'))
        return post(inject, signed, { sentBody: `${signed} ` })
      },
    },
    {
      name: 'malformed JSON, wrong signature',
      send: () =>
        post(inject, '{"id":"evt_broken","type":', {
          signature: signatureHeader('not-the-secret-xxxxxxxx', '{"id":"evt_broken","type":'),
        }),
    },
    {
      name: 'malformed JSON, no signature',
      send: () => post(inject, '{"id":"evt_broken","type":', { signature: null }),
    },
    {
      name: 'refund signed with a wrong secret',
      send: () => {
        const body = JSON.stringify(refunded(businessId, customer.id, 'S-SETUP', '100.00'))
        return post(inject, body, { signature: signatureHeader('not-the-secret-xxxxxxxx', body) })
      },
    },
  ]
  for (const c of cases) {
    const before = await snapshot(db, businessId, customer.id)
    const res = await c.send()
    t.equal(res.statusCode, 401, `${c.name}: status`)
    t.equal(res.json<ApiError>().error, 'Invalid signature', `${c.name}: error`)
    t.same(await snapshot(db, businessId, customer.id), before, `${c.name}: nothing stored`)
  }
})

t.test('timestamps within 300 s either way are accepted', async (t) => {
  const { inject, database } = await fileServer(t)
  const businessId = 202
  const customer = await createCustomer(inject, businessId, { name: 'Sales Subject' })
  const cases: { name: string; offset: number }[] = [
    { name: 'now - 299 s', offset: -299 },
    { name: 'now + 299 s', offset: 299 },
    { name: 'now', offset: 0 },
  ]
  for (const [index, c] of cases.entries()) {
    await earlyInSecond()
    const event = completed(businessId, customer.id, `S-${index}`)
    const body = JSON.stringify(event)
    const res = await post(inject, body, {
      signature: signatureHeader(TEST_WEBHOOK_SECRET, body, nowSeconds() + c.offset),
    })
    t.equal(res.statusCode, 200, `${c.name}: status`)
    t.same(
      res.json(),
      { status: 'processed', event_id: event.id, customer_id: event.data.customer_id },
      `${c.name}: body`,
    )
  }
  t.equal(
    (await totals(database.db, businessId, customer.id)).total_purchases,
    cases.length,
    'every accepted sale counted',
  )
})

t.test('several v1 values are allowed: one right signature is enough', async (t) => {
  const { inject, database } = await fileServer(t)
  const businessId = 203
  const customer = await createCustomer(inject, businessId, { name: 'Sales Subject' })
  const wrong = (body: string, now: number): string => sign('not-the-secret-xxxxxxxx', now, body)
  const cases: { name: string; header: (body: string, now: number) => string }[] = [
    {
      name: 'right one last',
      header: (body, now) =>
        `t=${now},v1=${wrong(body, now)},v1=${sign(TEST_WEBHOOK_SECRET, now, body)}`,
    },
    {
      name: 'right one first',
      header: (body, now) =>
        `t=${now},v1=${sign(TEST_WEBHOOK_SECRET, now, body)},v1=${wrong(body, now)}`,
    },
    {
      name: 'right one between two wrong, another scheme ignored',
      header: (body, now) =>
        `t=${now},v0=deadbeef,v1=${'0'.repeat(64)},v1=${sign(TEST_WEBHOOK_SECRET, now, body)},v1=${wrong(body, now)}`,
    },
  ]
  for (const [index, c] of cases.entries()) {
    const event = completed(businessId, customer.id, `S-${index}`)
    const body = JSON.stringify(event)
    const res = await post(inject, body, { signature: c.header(body, nowSeconds()) })
    t.equal(res.statusCode, 200, `${c.name}: status`)
    t.same(
      res.json(),
      { status: 'processed', event_id: event.id, customer_id: event.data.customer_id },
      `${c.name}: body`,
    )
  }

  const before = await snapshot(database.db, businessId, customer.id)
  const event = completed(businessId, customer.id, 'S-none-right')
  const body = JSON.stringify(event)
  const now = nowSeconds()
  const res = await post(inject, body, {
    signature: `t=${now},v1=${wrong(body, now)},v1=${'0'.repeat(64)}`,
  })
  t.equal(res.statusCode, 401, 'none right: status')
  t.same(await snapshot(database.db, businessId, customer.id), before, 'none right: nothing stored')
})

t.test('rotated secrets: either configured secret is accepted, a third is refused', async (t) => {
  const secrets = ['old-secret-aaaaaaaaaaaa', 'new-secret-bbbbbbbbbbbb']
  const { inject, database } = await build(t, { config: { salesWebhookSecrets: secrets } })
  const businessId = 204
  const customer = await createCustomer(inject, businessId, { name: 'Sales Subject' })
  const cases: { name: string; secret: string; status: number }[] = [
    { name: 'old secret', secret: 'old-secret-aaaaaaaaaaaa', status: 200 },
    { name: 'new secret', secret: 'new-secret-bbbbbbbbbbbb', status: 200 },
    { name: 'a third secret', secret: 'third-secret-cccccccccc', status: 401 },
    {
      name: 'the default test secret, not configured here',
      secret: TEST_WEBHOOK_SECRET,
      status: 401,
    },
  ]
  for (const [index, c] of cases.entries()) {
    const before = await snapshot(database.db, businessId, customer.id)
    const event = completed(businessId, customer.id, `S-${index}`)
    const body = JSON.stringify(event)
    const res = await post(inject, body, { signature: signatureHeader(c.secret, body) })
    t.equal(res.statusCode, c.status, `${c.name}: status`)
    if (c.status === 200) {
      t.same(
        res.json(),
        { status: 'processed', event_id: event.id, customer_id: event.data.customer_id },
        `${c.name}: body`,
      )
      t.ok(await storedSale(database.db, businessId, `S-${index}`), `${c.name}: sale stored`)
    } else {
      t.equal(res.json<ApiError>().error, 'Invalid signature', `${c.name}: error`)
      t.same(
        await snapshot(database.db, businessId, customer.id),
        before,
        `${c.name}: nothing stored`,
      )
    }
  }
  t.equal((await totals(database.db, businessId, customer.id)).total_purchases, 2, 'two counted')
})

t.test('a body that is not application/json is a 415, even when signed', async (t) => {
  const { inject, database } = await fileServer(t)
  const businessId = 205
  const customer = await createCustomer(inject, businessId, { name: 'Sales Subject' })
  const cases: { name: string; contentType: string }[] = [
    { name: 'text/plain', contentType: 'text/plain' },
    { name: 'form-urlencoded', contentType: 'application/x-www-form-urlencoded' },
    { name: 'xml', contentType: 'application/xml' },
  ]
  for (const c of cases) {
    const before = await snapshot(database.db, businessId, customer.id)
    const res = await post(inject, completed(businessId, customer.id, 'S-1'), {
      contentType: c.contentType,
    })
    t.equal(res.statusCode, 415, `${c.name}: status`)
    t.equal(res.json<ApiError>().error, 'Unsupported media type', `${c.name}: error`)
    t.same(
      await snapshot(database.db, businessId, customer.id),
      before,
      `${c.name}: nothing stored`,
    )
  }
})

t.test('malformed JSON that is correctly signed is a 400 naming the body', async (t) => {
  const { inject, database } = await fileServer(t)
  const businessId = 206
  const customer = await createCustomer(inject, businessId, { name: 'Sales Subject' })
  const before = await snapshot(database.db, businessId, customer.id)
  const res = await post(inject, '{"id":"evt_broken","type":')
  t.equal(res.statusCode, 400, 'status')
  t.equal(res.json<ApiError>().error, 'Validation failed', 'error')
  t.same(detailPaths(res), ['body'], 'details name the body')
  t.same(await snapshot(database.db, businessId, customer.id), before, 'nothing stored')
})

t.test('a redelivered event id is a duplicate and changes nothing', async (t) => {
  const { inject, database } = await fileServer(t)
  const db = database.db
  const businessId = 207
  const customer = await createCustomer(inject, businessId, { name: 'Sales Subject' })
  const cases: { name: string; event: SaleEventBody }[] = [
    { name: 'completion', event: completed(businessId, customer.id, 'S-1') },
    { name: 'refund', event: refunded(businessId, customer.id, 'S-1', '100.00') },
    { name: 'void', event: voided(businessId, customer.id, 'S-2') },
  ]
  await apply(inject, completed(businessId, customer.id, 'S-2', { total_amount: '300.00' }))
  for (const c of cases) {
    const first = await post(inject, c.event)
    t.equal(first.statusCode, 200, `${c.name}, first delivery: status`)
    t.same(
      first.json(),
      { status: 'processed', event_id: c.event.id, customer_id: c.event.data.customer_id },
      `${c.name}, first: body`,
    )
    const before = await snapshot(db, businessId, customer.id)
    const again = await post(inject, c.event)
    t.equal(again.statusCode, 200, `${c.name}, redelivery: status`)
    t.same(again.json(), { status: 'duplicate', event_id: c.event.id }, `${c.name}, again: body`)
    t.same(await snapshot(db, businessId, customer.id), before, `${c.name}, again: unchanged`)
  }
  t.same(
    await totals(db, businessId, customer.id),
    {
      total_purchases: 1,
      total_spent: '2400.00',
      customer_lifetime_value: '2400.00',
      avg_transaction_value: '2400.00',
      total_items_bought: '3.000',
    },
    'each event counted once',
  )
})

t.test('the same sale completed again under another event id is a duplicate', async (t) => {
  const { inject, database } = await fileServer(t)
  const db = database.db
  const businessId = 208
  const customer = await createCustomer(inject, businessId, { name: 'Sales Subject' })
  await apply(inject, completed(businessId, customer.id, 'S-1'))
  const cases: { name: string; data: Json }[] = [
    { name: 'same content', data: {} },
    {
      name: 'other amount, items, payment and time',
      data: {
        total_amount: '9999.00',
        items_count: 7,
        payment_method: 'cash',
        completed_at: '2026-12-01T08:00:00Z',
      },
    },
  ]
  for (const c of cases) {
    const beforeHistory = await cachedFigures(db, businessId, customer.id)
    const beforeSale = plain(await storedSale(db, businessId, 'S-1'))
    const beforeSales = await countRows(db, 'customer_sales')
    const event = completed(businessId, customer.id, 'S-1', c.data)
    const res = await post(inject, event)
    t.equal(res.statusCode, 200, `${c.name}: status`)
    t.same(res.json(), { status: 'duplicate', event_id: event.id }, `${c.name}: body`)
    t.same(await cachedFigures(db, businessId, customer.id), beforeHistory, `${c.name}: history`)
    t.same(plain(await storedSale(db, businessId, 'S-1')), beforeSale, `${c.name}: sale row`)
    t.equal(await countRows(db, 'customer_sales'), beforeSales, `${c.name}: no new sale row`)
  }
  t.equal((await totals(db, businessId, customer.id)).total_spent, '2500.00', 'spent once')
})

t.test('refunds reduce the amount spent, never the number of purchases', async (t) => {
  const { inject, database } = await fileServer(t)
  const db = database.db
  const businessId = 209
  const customer = await createCustomer(inject, businessId, { name: 'Sales Subject' })
  await apply(inject, completed(businessId, customer.id, 'S-1', { total_amount: '2500.00' }))
  await apply(inject, completed(businessId, customer.id, 'S-2', { total_amount: '1000.00' }))
  t.same(
    await totals(db, businessId, customer.id),
    {
      total_purchases: 2,
      total_spent: '3500.00',
      customer_lifetime_value: '3500.00',
      avg_transaction_value: '1750.00',
      total_items_bought: '6.000',
    },
    'before refunds',
  )

  const cases: { name: string; amount: string | number; spent: string; refunded: string }[] = [
    { name: 'partial refund', amount: '500.00', spent: '3000.00', refunded: '500.00' },
    { name: 'second partial refund adds up', amount: 250.5, spent: '2749.50', refunded: '750.50' },
    { name: 'refund up to the total', amount: '1749.50', spent: '1000.00', refunded: '2500.00' },
  ]
  for (const c of cases) {
    const event = refunded(businessId, customer.id, 'S-1', c.amount)
    const res = await post(inject, event)
    t.equal(res.statusCode, 200, `${c.name}: status`)
    t.same(
      res.json(),
      { status: 'processed', event_id: event.id, customer_id: event.data.customer_id },
      `${c.name}: body`,
    )
    const after = await totals(db, businessId, customer.id)
    t.equal(after.total_purchases, 2, `${c.name}: total_purchases unchanged`)
    t.equal(after.total_spent, c.spent, `${c.name}: total_spent`)
    t.equal(after.customer_lifetime_value, c.spent, `${c.name}: customer_lifetime_value`)
    t.equal(
      (await storedSale(db, businessId, 'S-1'))?.refunded_amount,
      c.refunded,
      `${c.name}: refunded_amount`,
    )
  }
  t.same(await findStalePurchaseHistory(db, businessId), [], 'cache equals the ledger')
})

t.test('a refund beyond the sale total is a 422 and changes nothing', async (t) => {
  const { inject, database } = await fileServer(t)
  const db = database.db
  const businessId = 210
  const customer = await createCustomer(inject, businessId, { name: 'Sales Subject' })
  await apply(inject, completed(businessId, customer.id, 'S-1', { total_amount: '1000.00' }))
  await apply(inject, refunded(businessId, customer.id, 'S-1', '600.00'))
  const cases: { name: string; amount: string | number }[] = [
    { name: 'one cent too much', amount: '400.01' },
    { name: 'more than the whole sale', amount: '1000.01' },
    { name: 'as a number', amount: 5000 },
  ]
  for (const c of cases) {
    const before = await snapshot(db, businessId, customer.id)
    const res = await post(inject, refunded(businessId, customer.id, 'S-1', c.amount))
    t.equal(res.statusCode, 422, `${c.name}: status`)
    t.equal(res.json<ApiError>().error, 'Unprocessable event', `${c.name}: error`)
    t.same(await snapshot(db, businessId, customer.id), before, `${c.name}: nothing changed`)
  }
  t.equal((await totals(db, businessId, customer.id)).total_spent, '400.00', 'still 400.00')
})

t.test('a refund without a positive refund_amount is a 400 and changes nothing', async (t) => {
  const { inject, database } = await fileServer(t)
  const db = database.db
  const businessId = 211
  const customer = await createCustomer(inject, businessId, { name: 'Sales Subject' })
  await apply(inject, completed(businessId, customer.id, 'S-1'))
  const cases: { name: string; amount: string | number | undefined }[] = [
    { name: 'refund_amount missing', amount: undefined },
    { name: 'refund_amount 0', amount: 0 },
    { name: 'refund_amount "0"', amount: '0' },
    { name: 'refund_amount "0.00"', amount: '0.00' },
    { name: 'refund_amount negative', amount: -5 },
    { name: 'refund_amount three decimals', amount: '1.005' },
  ]
  for (const c of cases) {
    const before = await snapshot(db, businessId, customer.id)
    const res = await post(inject, refunded(businessId, customer.id, 'S-1', c.amount))
    t.equal(res.statusCode, 400, `${c.name}: status`)
    t.equal(res.json<ApiError>().error, 'Validation failed', `${c.name}: error`)
    t.same(detailPaths(res), ['data.refund_amount'], `${c.name}: details name the field`)
    t.same(await snapshot(db, businessId, customer.id), before, `${c.name}: nothing changed`)
  }
})

t.test('a voided sale stops counting; a second void is a duplicate', async (t) => {
  const { inject, database } = await fileServer(t)
  const db = database.db
  const businessId = 212
  const customer = await createCustomer(inject, businessId, { name: 'Sales Subject' })
  await apply(inject, completed(businessId, customer.id, 'S-1', { total_amount: '2500.00' }))
  await apply(inject, completed(businessId, customer.id, 'S-2', { total_amount: '1000.00' }))

  const first = voided(businessId, customer.id, 'S-2')
  const res = await post(inject, first)
  t.equal(res.statusCode, 200, 'void: status')
  t.same(
    res.json(),
    { status: 'processed', event_id: first.id, customer_id: first.data.customer_id },
    'void: body',
  )
  t.same(
    await totals(db, businessId, customer.id),
    {
      total_purchases: 1,
      total_spent: '2500.00',
      customer_lifetime_value: '2500.00',
      avg_transaction_value: '2500.00',
      total_items_bought: '3.000',
    },
    'void: the sale no longer counts',
  )
  t.equal((await storedSale(db, businessId, 'S-2'))?.voided, true, 'void: kept in the ledger')

  const before = await cachedFigures(db, businessId, customer.id)
  const beforeSale = plain(await storedSale(db, businessId, 'S-2'))
  const second = voided(businessId, customer.id, 'S-2')
  const again = await post(inject, second)
  t.equal(again.statusCode, 200, 'second void: status')
  t.same(again.json(), { status: 'duplicate', event_id: second.id }, 'second void: body')
  t.same(await cachedFigures(db, businessId, customer.id), before, 'second void: history')
  t.same(plain(await storedSale(db, businessId, 'S-2')), beforeSale, 'second void: sale row')

  const refund = refunded(businessId, customer.id, 'S-1', '500.00')
  await apply(inject, refund)
  await apply(inject, voided(businessId, customer.id, 'S-1'))
  t.same(
    await totals(db, businessId, customer.id),
    {
      total_purchases: 0,
      total_spent: '0.00',
      customer_lifetime_value: '0.00',
      avg_transaction_value: '0.00',
      total_items_bought: '0.000',
    },
    'a refunded sale voided too counts for nothing',
  )
  t.same(await findStalePurchaseHistory(db, businessId), [], 'cache equals the ledger')
})

t.test('any order of arrival gives the same final state', async (t) => {
  const { inject, database } = await fileServer(t)
  const db = database.db
  const businessId = 213
  type Feed = (customerId: number, sale: string) => SaleEventBody[]
  const sale = (customerId: number, saleId: string, total: string, at: string): SaleEventBody =>
    completed(businessId, customerId, saleId, { total_amount: total, completed_at: at })
  const cases: {
    name: string
    inOrder: Feed
    outOfOrder: Feed
    purchases: number
    spent: string
  }[] = [
    {
      name: 'refund before completion',
      inOrder: (c, s) => [
        sale(c, `${s}-1`, '2500.00', '2026-11-20T10:00:00.000Z'),
        refunded(businessId, c, `${s}-1`, '500.00'),
      ],
      outOfOrder: (c, s) => [
        refunded(businessId, c, `${s}-1`, '500.00'),
        sale(c, `${s}-1`, '2500.00', '2026-11-20T10:00:00.000Z'),
      ],
      purchases: 1,
      spent: '2000.00',
    },
    {
      name: 'two refunds before completion',
      inOrder: (c, s) => [
        sale(c, `${s}-1`, '2500.00', '2026-11-20T10:00:00.000Z'),
        refunded(businessId, c, `${s}-1`, '500.00'),
        refunded(businessId, c, `${s}-1`, '0.25'),
      ],
      outOfOrder: (c, s) => [
        refunded(businessId, c, `${s}-1`, '0.25'),
        refunded(businessId, c, `${s}-1`, '500.00'),
        sale(c, `${s}-1`, '2500.00', '2026-11-20T10:00:00.000Z'),
      ],
      purchases: 1,
      spent: '1999.75',
    },
    {
      name: 'void before completion',
      inOrder: (c, s) => [
        sale(c, `${s}-1`, '2500.00', '2026-11-20T10:00:00.000Z'),
        sale(c, `${s}-2`, '700.00', '2026-11-21T10:00:00.000Z'),
        voided(businessId, c, `${s}-2`),
      ],
      outOfOrder: (c, s) => [
        voided(businessId, c, `${s}-2`),
        sale(c, `${s}-1`, '2500.00', '2026-11-20T10:00:00.000Z'),
        sale(c, `${s}-2`, '700.00', '2026-11-21T10:00:00.000Z'),
      ],
      purchases: 1,
      spent: '2500.00',
    },
    {
      name: 'refund and void before completion, mixed',
      inOrder: (c, s) => [
        sale(c, `${s}-1`, '100.00', '2026-11-20T10:00:00.000Z'),
        sale(c, `${s}-2`, '200.00', '2026-11-21T10:00:00.000Z'),
        sale(c, `${s}-3`, '300.00', '2026-11-22T10:00:00.000Z'),
        refunded(businessId, c, `${s}-1`, '40.00'),
        voided(businessId, c, `${s}-3`),
        refunded(businessId, c, `${s}-3`, '10.00'),
      ],
      outOfOrder: (c, s) => [
        refunded(businessId, c, `${s}-3`, '10.00'),
        voided(businessId, c, `${s}-3`),
        refunded(businessId, c, `${s}-1`, '40.00'),
        sale(c, `${s}-3`, '300.00', '2026-11-22T10:00:00.000Z'),
        sale(c, `${s}-2`, '200.00', '2026-11-21T10:00:00.000Z'),
        sale(c, `${s}-1`, '100.00', '2026-11-20T10:00:00.000Z'),
      ],
      purchases: 2,
      spent: '260.00',
    },
  ]
  for (const [index, c] of cases.entries()) {
    const ordered = await createCustomer(inject, businessId, { name: `In order ${index}` })
    const shuffled = await createCustomer(inject, businessId, { name: `Out of order ${index}` })
    for (const event of c.inOrder(ordered.id, `IN${index}`)) {
      const res = await post(inject, event)
      t.equal(res.statusCode, 200, `${c.name}, in order, ${event.type}: status`)
    }
    for (const event of c.outOfOrder(shuffled.id, `OUT${index}`)) {
      const res = await post(inject, event)
      t.equal(res.statusCode, 200, `${c.name}, out of order, ${event.type}: status`)
      t.same(
        res.json(),
        { status: 'processed', event_id: event.id, customer_id: event.data.customer_id },
        `${c.name}, out of order, ${event.type}: processed`,
      )
    }
    t.same(
      await cachedFigures(db, businessId, shuffled.id),
      await cachedFigures(db, businessId, ordered.id),
      `${c.name}: same purchase history`,
    )
    t.same(
      await ledgerFigures(db, businessId, shuffled.id),
      await ledgerFigures(db, businessId, ordered.id),
      `${c.name}: same ledger`,
    )
    t.match(
      await totals(db, businessId, ordered.id),
      { total_purchases: c.purchases, total_spent: c.spent },
      `${c.name}: the totals themselves`,
    )
  }
  t.same(await findStalePurchaseHistory(db, businessId), [], 'cache equals the ledger')
})

t.test('a refund held before its completion is capped at the sale total', async (t) => {
  const { inject, database } = await fileServer(t)
  const db = database.db
  const businessId = 214
  const customer = await createCustomer(inject, businessId, { name: 'Sales Subject' })
  await apply(inject, refunded(businessId, customer.id, 'S-1', '3000.00'))
  t.same(
    await totals(db, businessId, customer.id),
    {
      total_purchases: 0,
      total_spent: '0.00',
      customer_lifetime_value: '0.00',
      avg_transaction_value: '0.00',
      total_items_bought: '0.000',
    },
    'a refund alone counts for nothing',
  )
  await apply(inject, completed(businessId, customer.id, 'S-1', { total_amount: '2500.00' }))
  t.equal((await storedSale(db, businessId, 'S-1'))?.refunded_amount, '2500.00', 'capped')
  t.same(
    await totals(db, businessId, customer.id),
    {
      total_purchases: 1,
      total_spent: '0.00',
      customer_lifetime_value: '0.00',
      avg_transaction_value: '0.00',
      total_items_bought: '3.000',
    },
    'a purchase, fully refunded',
  )
  t.same(await findStalePurchaseHistory(db, businessId), [], 'cache equals the ledger')
})

t.test(
  'a walk-in sale (customer_id null, no payer) is ignored: kept in the ledger, no customer effect',
  async (t) => {
    const { inject, database } = await fileServer(t)
    const db = database.db
    const businessId = 215
    const customer = await createCustomer(inject, businessId, { name: 'Sales Subject' })
    const before = await totals(db, businessId, customer.id)
    const cases: { name: string; event: SaleEventBody; ledger: Record<string, unknown> }[] = [
      {
        name: 'completion',
        event: completed(businessId, null, 'S-WALK', { total_amount: '300.00' }),
        ledger: {
          customer_id: null,
          total_amount: '300.00',
          refunded_amount: '0.00',
          voided: false,
        },
      },
      {
        name: 'refund',
        event: refunded(businessId, null, 'S-WALK', '10.00'),
        ledger: {
          customer_id: null,
          total_amount: '300.00',
          refunded_amount: '10.00',
          voided: false,
        },
      },
      {
        name: 'void',
        event: voided(businessId, null, 'S-WALK'),
        ledger: {
          customer_id: null,
          total_amount: '300.00',
          refunded_amount: '10.00',
          voided: true,
        },
      },
    ]
    for (const c of cases) {
      const res = await post(inject, c.event)
      t.equal(res.statusCode, 200, `${c.name}: status`)
      t.same(res.json(), { status: 'ignored', event_id: c.event.id }, `${c.name}: body`)
      t.match(await storedSale(db, businessId, 'S-WALK'), c.ledger, `${c.name}: the ledger row`)
      t.same(await totals(db, businessId, customer.id), before, `${c.name}: no customer effect`)
    }
    const again = await post(inject, cases[0]!.event)
    t.same(
      again.json(),
      { status: 'duplicate', event_id: cases[0]!.event.id },
      'a redelivered walk-in event is a duplicate',
    )

    const unseen = completed(99_999, null, 'S-WALK')
    const res = await post(inject, unseen)
    t.same(res.json(), { status: 'ignored', event_id: unseen.id }, 'a business never seen: ignored')
    t.match(
      await storedSale(db, 99_999, 'S-WALK'),
      { customer_id: null, total_amount: '2500.00' },
      'and its sale kept under that business',
    )
    t.same(await findStalePurchaseHistory(db, businessId), [], 'cache equals the ledger')
  },
)

t.test(
  'a customer that does not exist in the business is a 422 and nothing is stored',
  async (t) => {
    const { inject, database } = await fileServer(t)
    const db = database.db
    // SPEC's example: a customer of business 6 reported under business 5.
    const [businessId, otherBusinessId] = [5, 6]
    const customer = await createCustomer(inject, businessId, { name: 'Sales Subject' })
    const sibling = await createCustomer(inject, businessId, { name: 'Sibling' })
    const stranger = await createCustomer(inject, otherBusinessId, {
      name: 'Other Business Customer',
    })
    await apply(inject, completed(businessId, customer.id, 'S-OWN'))
    const cases: { name: string; event: SaleEventBody }[] = [
      { name: 'unknown customer id', event: completed(businessId, 999_999_999, 'S-1') },
      { name: 'customer of another business', event: completed(businessId, stranger.id, 'S-1') },
      {
        name: 'refund for a customer of another business',
        event: refunded(businessId, stranger.id, 'S-OWN', '1.00'),
      },
      { name: 'void for an unknown customer', event: voided(businessId, 999_999_999, 'S-OWN') },
      { name: 'business that does not exist', event: completed(987_654, customer.id, 'S-1') },
      {
        name: 'refund of a sale that belongs to another customer',
        event: refunded(businessId, sibling.id, 'S-OWN', '1.00'),
      },
      {
        name: 'void of a sale that belongs to another customer',
        event: voided(businessId, sibling.id, 'S-OWN'),
      },
      {
        name: 'completion of a sale that belongs to another customer',
        event: completed(businessId, sibling.id, 'S-OWN'),
      },
    ]
    for (const c of cases) {
      const before = await snapshot(db, businessId, customer.id)
      const beforeOther = await snapshot(db, otherBusinessId, stranger.id)
      const beforeSibling = await findPurchaseHistory(db, businessId, sibling.id)
      const res = await post(inject, c.event)
      t.equal(res.statusCode, 422, `${c.name}: status`)
      t.equal(res.json<ApiError>().error, 'Unprocessable event', `${c.name}: error`)
      t.same(await snapshot(db, businessId, customer.id), before, `${c.name}: nothing stored`)
      t.same(
        await snapshot(db, otherBusinessId, stranger.id),
        beforeOther,
        `${c.name}: other business unchanged`,
      )
      t.same(
        plain(await findPurchaseHistory(db, businessId, sibling.id)),
        plain(beforeSibling),
        `${c.name}: sibling unchanged`,
      )
    }
  },
)

t.test('schema errors are a 400 naming the field and store nothing', async (t) => {
  const { inject, database } = await fileServer(t)
  const db = database.db
  const businessId = 217
  const customer = await createCustomer(inject, businessId, { name: 'Sales Subject' })
  await apply(inject, completed(businessId, customer.id, 'S-SETUP'))
  const base = (): SaleEventBody => completed(businessId, customer.id, 'S-1')
  const withData = (data: Json): Json => {
    const event = base()
    return { ...event, data: { ...event.data, ...data } }
  }
  const withoutData = (field: string): Json => {
    const event = base()
    return { ...event, data: without(event.data, field) }
  }
  const cases: { name: string; event: Json; path: string }[] = [
    { name: 'missing id', event: without(base(), 'id'), path: 'id' },
    { name: 'empty id', event: { ...base(), id: '' }, path: 'id' },
    { name: 'unknown type', event: { ...base(), type: 'sale.exploded' }, path: 'type' },
    { name: 'unknown top-level field', event: { ...base(), livemode: true }, path: 'livemode' },
    { name: 'missing data', event: without(base(), 'data'), path: 'data' },
    { name: 'unknown data field', event: withData({ discount: '5.00' }), path: 'data.discount' },
    {
      name: 'total_amount with three decimals',
      event: withData({ total_amount: '10.001' }),
      path: 'data.total_amount',
    },
    {
      name: 'total_amount number with three decimals',
      event: withData({ total_amount: 10.001 }),
      path: 'data.total_amount',
    },
    {
      name: 'total_amount negative',
      event: withData({ total_amount: -5 }),
      path: 'data.total_amount',
    },
    {
      name: 'total_amount negative string',
      event: withData({ total_amount: '-5.00' }),
      path: 'data.total_amount',
    },
    {
      name: 'total_amount "abc"',
      event: withData({ total_amount: 'abc' }),
      path: 'data.total_amount',
    },
    {
      name: 'total_amount in exponent form',
      event: withData({ total_amount: '1e3' }),
      path: 'data.total_amount',
    },
    {
      name: 'completed without total_amount',
      event: withoutData('total_amount'),
      path: 'data.total_amount',
    },
    {
      name: 'completed without completed_at',
      event: withoutData('completed_at'),
      path: 'data.completed_at',
    },
    {
      name: 'completed_at not a timestamp',
      event: withData({ completed_at: 'yesterday' }),
      path: 'data.completed_at',
    },
    { name: 'business_id 0', event: withData({ business_id: 0 }), path: 'data.business_id' },
    {
      name: 'business_id a string',
      event: withData({ business_id: '217' }),
      path: 'data.business_id',
    },
    { name: 'customer_id 0', event: withData({ customer_id: 0 }), path: 'data.customer_id' },
    { name: 'missing sale_id', event: withoutData('sale_id'), path: 'data.sale_id' },
    {
      name: 'payment_method unknown',
      event: withData({ payment_method: 'card' }),
      path: 'data.payment_method',
    },
    {
      name: 'items_count with four decimals',
      event: withData({ items_count: '1.0001' }),
      path: 'data.items_count',
    },
  ]
  for (const c of cases) {
    const before = await snapshot(db, businessId, customer.id)
    const res = await post(inject, c.event)
    t.equal(res.statusCode, 400, `${c.name}: status`)
    t.equal(res.json<ApiError>().error, 'Validation failed', `${c.name}: error`)
    const paths = detailPaths(res)
    t.ok(paths.includes(c.path), `${c.name}: details name ${c.path} (got ${paths.join(', ')})`)
    t.same(await snapshot(db, businessId, customer.id), before, `${c.name}: nothing stored`)
  }
})

t.test('money as a JSON number or a decimal string is stored as the same numeric', async (t) => {
  const { inject, database } = await fileServer(t)
  const db = database.db
  const businessId = 218
  const customer = await createCustomer(inject, businessId, { name: 'Sales Subject' })
  const cases: { name: string; total: string | number; expected: string }[] = [
    { name: 'number 2500.5', total: 2500.5, expected: '2500.50' },
    { name: 'string "2500.50"', total: '2500.50', expected: '2500.50' },
    { name: 'string "2500.5"', total: '2500.5', expected: '2500.50' },
    { name: 'number 2500', total: 2500, expected: '2500.00' },
    { name: 'string "2500"', total: '2500', expected: '2500.00' },
    { name: 'number 0.1', total: 0.1, expected: '0.10' },
    { name: 'largest amount', total: '9999999999.99', expected: '9999999999.99' },
  ]
  // One customer per case, so each total is also the customer's total_spent.
  for (const [index, c] of cases.entries()) {
    const buyer =
      index === 0 ? customer : await createCustomer(inject, businessId, { name: c.name })
    await apply(inject, completed(businessId, buyer.id, `S-${index}`, { total_amount: c.total }))
    t.equal(
      (await storedSale(db, businessId, `S-${index}`))?.total_amount,
      c.expected,
      `${c.name}: stored sale`,
    )
    t.equal(
      (await totals(db, businessId, buyer.id)).total_spent,
      c.expected,
      `${c.name}: total_spent`,
    )
  }
  const refundCases: { name: string; amount: string | number; expected: string }[] = [
    { name: 'refund number 0.5', amount: 0.5, expected: '0.50' },
    { name: 'refund string "0.50"', amount: '0.50', expected: '1.00' },
  ]
  for (const c of refundCases) {
    await apply(inject, refunded(businessId, customer.id, 'S-0', c.amount))
    t.equal(
      (await storedSale(db, businessId, 'S-0'))?.refunded_amount,
      c.expected,
      `${c.name}: refunds add up exactly`,
    )
  }
  t.same(await findStalePurchaseHistory(db, businessId), [], 'cache equals the ledger')
})

t.test('after a mix of events the cache equals the ledger', async (t) => {
  const { inject, database } = await fileServer(t)
  const db = database.db
  const businessId = 219
  const a = await createCustomer(inject, businessId, { name: 'Mix A' })
  const b = await createCustomer(inject, businessId, { name: 'Mix B' })
  const c = await createCustomer(inject, businessId, { name: 'Mix C' })
  const events: SaleEventBody[] = [
    completed(businessId, a.id, 'M-1', { total_amount: '120.10', items_count: '1.5' }),
    completed(businessId, a.id, 'M-2', { total_amount: 80, completed_at: '2026-10-01T00:00:00Z' }),
    refunded(businessId, a.id, 'M-1', '20.10'),
    voided(businessId, b.id, 'M-3'),
    completed(businessId, b.id, 'M-3', { total_amount: '999.99' }),
    refunded(businessId, b.id, 'M-4', '5.00'),
    completed(businessId, b.id, 'M-4', { total_amount: '50.00', payment_method: 'cash' }),
    completed(businessId, null, 'M-5'),
    completed(businessId, c.id, 'M-6', { total_amount: '0.01' }),
    voided(businessId, c.id, 'M-6'),
    completed(businessId, c.id, 'M-7', { total_amount: '10.00' }),
  ]
  for (const event of events) {
    const res = await post(inject, event)
    t.equal(res.statusCode, 200, `${event.type} ${event.data.sale_id}: status`)
  }
  const [firstEvent] = events
  const replay = await post(inject, firstEvent)
  t.equal(replay.statusCode, 200, 'replay: status')
  t.same(replay.json(), { status: 'duplicate', event_id: firstEvent?.id }, 'replay: duplicate')

  t.same(await findStalePurchaseHistory(db, businessId), [], 'cache equals the ledger')
  t.same(
    await totals(db, businessId, a.id),
    {
      total_purchases: 2,
      total_spent: '180.00',
      customer_lifetime_value: '180.00',
      avg_transaction_value: '90.00',
      total_items_bought: '4.500',
    },
    'A',
  )
  t.same(
    await totals(db, businessId, b.id),
    {
      total_purchases: 1,
      total_spent: '45.00',
      customer_lifetime_value: '45.00',
      avg_transaction_value: '45.00',
      total_items_bought: '3.000',
    },
    'B',
  )
  t.same(
    await totals(db, businessId, c.id),
    {
      total_purchases: 1,
      total_spent: '10.00',
      customer_lifetime_value: '10.00',
      avg_transaction_value: '10.00',
      total_items_bought: '3.000',
    },
    'C',
  )
})
