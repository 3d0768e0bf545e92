import type { LightMyRequestResponse } from 'fastify'
import t from 'tap'
import type { ApiError } from '../../../../generated/schemas/ApiError.js'
import type { CustomerAnalyticsResponse } from '../../../../generated/schemas/CustomerAnalyticsResponse.js'
import type { CustomerMetrics } from '../../../../generated/schemas/CustomerMetrics.js'
import type { CustomerMetricsResponse } from '../../../../generated/schemas/CustomerMetricsResponse.js'
import type { CustomerResponse } from '../../../../generated/schemas/CustomerResponse.js'
import type { RepeatCustomers } from '../../../../generated/schemas/RepeatCustomers.js'
import type { Sale } from '../../../../generated/schemas/Sale.js'
import type { SalesHistory } from '../../../../generated/schemas/SalesHistory.js'
import type { WebhookResult } from '../../../../generated/schemas/WebhookResult.js'
import { signatureHeader } from '../../../../lib/webhook-signature.js'
import { authFor, fileServer, TEST_WEBHOOK_SECRET, type TestServer } from '../../../helper.js'
import { createCustomer } from '../../../support/customers.js'

type Inject = TestServer['inject']
type Json = Record<string, unknown>

const HOUR_MS = 60 * 60 * 1000
const DAY_MS = 24 * HOUR_MS

let sequence = 0

async function softDelete(inject: Inject, businessId: number, customerId: number): Promise<void> {
  const res = await inject({
    method: 'DELETE',
    url: `/api/customers/${businessId}/${customerId}`,
    headers: authFor(businessId),
  })
  if (res.statusCode !== 200) throw new Error(`delete failed: ${res.statusCode} ${res.body}`)
}

/** Posts one event through the signed webhook; it must be processed. */
async function feed(
  inject: Inject,
  type: 'sale.completed' | 'sale.refunded' | 'sale.voided',
  data: Json & { sale_id: string; business_id: number; customer_id: number },
): Promise<void> {
  const event = { id: `evt_${++sequence}`, type, created_at: new Date().toISOString(), data }
  const body = JSON.stringify(event)
  const res = await inject({
    method: 'POST',
    url: '/webhooks/sales',
    headers: {
      'content-type': 'application/json',
      'payme-signature': signatureHeader(TEST_WEBHOOK_SECRET, body),
    },
    payload: body,
  })
  const status = res.statusCode === 200 ? res.json<WebhookResult>().status : undefined
  if (status !== 'processed')
    throw new Error(`${type} not processed: ${res.statusCode} ${res.body}`)
}

interface SaleInput {
  total: string
  at?: string
  items?: string | number
  payment?: 'cash' | 'mpesa' | 'credit'
}

/** A completed sale; `completed_at` defaults to a day ago. */
function sell(
  inject: Inject,
  businessId: number,
  customerId: number,
  saleId: string,
  sale: SaleInput,
): Promise<void> {
  return feed(inject, 'sale.completed', {
    sale_id: saleId,
    business_id: businessId,
    customer_id: customerId,
    total_amount: sale.total,
    completed_at: sale.at ?? new Date(Date.now() - DAY_MS).toISOString(),
    ...(sale.items === undefined ? {} : { items_count: sale.items }),
    ...(sale.payment === undefined ? {} : { payment_method: sale.payment }),
  })
}

/** `count` completed sales of `total` each, with distinct sale ids and times. */
async function sellMany(
  inject: Inject,
  businessId: number,
  customerId: number,
  count: number,
  total = '100.00',
): Promise<void> {
  for (let i = 0; i < count; i++) {
    await sell(inject, businessId, customerId, `C${customerId}-${i}`, {
      total,
      at: new Date(Date.UTC(2026, 0, 1 + i, 12)).toISOString(),
    })
  }
}

function refund(
  inject: Inject,
  businessId: number,
  customerId: number,
  saleId: string,
  amount: string,
): Promise<void> {
  return feed(inject, 'sale.refunded', {
    sale_id: saleId,
    business_id: businessId,
    customer_id: customerId,
    refund_amount: amount,
  })
}

function voidSale(
  inject: Inject,
  businessId: number,
  customerId: number,
  saleId: string,
): Promise<void> {
  return feed(inject, 'sale.voided', {
    sale_id: saleId,
    business_id: businessId,
    customer_id: customerId,
  })
}

function get(inject: Inject, businessId: number, path: string): Promise<LightMyRequestResponse> {
  return inject({
    method: 'GET',
    url: `/api/customers/${businessId}${path}`,
    headers: authFor(businessId),
  })
}

async function metricsOf(
  inject: Inject,
  businessId: number,
  customerId: number,
): Promise<CustomerMetrics> {
  const res = await get(inject, businessId, `/${customerId}/metrics`)
  if (res.statusCode !== 200) throw new Error(`metrics: ${res.statusCode} ${res.body}`)
  return res.json<CustomerMetricsResponse>().metrics
}

const detailPaths = (res: LightMyRequestResponse): string[] =>
  (res.json<ApiError>().details ?? []).map((detail) => detail.path)

const saleIds = (res: LightMyRequestResponse): string[] =>
  res.json<SalesHistory>().sales.map((sale) => sale.sale_id)

// ---------------------------------------------------------------------------------------------
// 10. Metrics
// ---------------------------------------------------------------------------------------------

t.test('metrics: every field, from the customer, its preferences and its sales', async (t) => {
  const { inject } = await fileServer(t)
  const businessId = 301
  const customer = await createCustomer(inject, businessId, {
    name: 'Wanjiru Kamau',
    phone: '0712 345 678',
    email: 'wanjiru@example.co.ke',
    customer_type: 'vip',
    prefer_sms: false,
    prefer_email: true,
    prefer_call: true,
  })
  const preferences = await inject({
    method: 'PATCH',
    url: `/api/customers/${businessId}/${customer.id}/preferences`,
    headers: authFor(businessId),
    payload: {
      preferred_payment: 'mpesa',
      favorite_products: [12, 7],
      do_not_contact: true,
      can_receive_offers: false,
    },
  })
  t.equal(preferences.statusCode, 200, 'preferences set: status')

  const now = Date.now()
  const first = new Date(now - 10 * DAY_MS).toISOString()
  const last = new Date(now - 3 * DAY_MS - HOUR_MS).toISOString()
  await sell(inject, businessId, customer.id, 'M-1', {
    total: '1000.50',
    at: first,
    items: '1.5',
    payment: 'cash',
  })
  await sell(inject, businessId, customer.id, 'M-2', {
    total: '2500.00',
    at: last,
    items: 3,
    payment: 'mpesa',
  })
  await sell(inject, businessId, customer.id, 'M-3', {
    total: '400.00',
    at: new Date(now - 2 * DAY_MS).toISOString(),
    items: 9,
  })
  await voidSale(inject, businessId, customer.id, 'M-3')
  await refund(inject, businessId, customer.id, 'M-1', '0.50')

  const res = await get(inject, businessId, `/${customer.id}/metrics`)
  t.equal(res.statusCode, 200, 'status')
  t.same(
    res.json(),
    {
      metrics: {
        customer_id: customer.id,
        name: 'Wanjiru Kamau',
        customer_type: 'vip',
        created_at: customer.created_at,
        total_purchases: 2,
        total_spent: '3500.00',
        avg_transaction_value: '1750.00',
        total_items_bought: '4.500',
        first_purchase_date: first,
        last_purchase_date: last,
        days_since_last_purchase: 3,
        is_repeat_customer: true,
        repeat_frequency: 'occasional',
        loyalty_tier: 'occasional',
        customer_lifetime_value: '3500.00',
        preferred_payment: 'mpesa',
        favorite_products: [12, 7],
        // Views of the consent ledger (SPEC Part 2, "Consent views"): do_not_contact withdrew
        // every granted pair, so loyalty and the e-mail and call preferences are off too.
        can_receive_offers: false,
        can_receive_loyalty: false,
        do_not_contact: true,
        phone: '+254712345678',
        email: 'wanjiru@example.co.ke',
        prefer_sms: false,
        prefer_email: false,
        prefer_call: false,
      },
    },
    'body: every field, voided sale left out, refund netted',
  )

  const detail = await get(inject, businessId, `/${customer.id}`)
  t.equal(detail.statusCode, 200, 'GET customer: status')
  const { preferences: stored, history } = detail.json<CustomerResponse>().customer
  const metrics = res.json<CustomerMetricsResponse>().metrics
  t.equal(stored.average_spend, metrics.avg_transaction_value, 'average_spend = avg_transaction')
  t.match(
    history,
    {
      total_purchases: metrics.total_purchases,
      total_spent: metrics.total_spent,
      avg_transaction_value: metrics.avg_transaction_value,
      total_items_bought: metrics.total_items_bought,
      first_purchase_date: metrics.first_purchase_date,
      last_purchase_date: metrics.last_purchase_date,
      days_since_last_purchase: metrics.days_since_last_purchase,
      is_repeat_customer: metrics.is_repeat_customer,
      repeat_frequency: metrics.repeat_frequency,
      customer_lifetime_value: metrics.customer_lifetime_value,
    },
    'GET customer history agrees with the metrics',
  )
})

t.test('metrics of a customer without purchases: zeros and nulls', async (t) => {
  const { inject } = await fileServer(t)
  const businessId = 302
  const customer = await createCustomer(inject, businessId, { name: 'New Customer' })
  const res = await get(inject, businessId, `/${customer.id}/metrics`)
  t.equal(res.statusCode, 200, 'status')
  t.same(
    res.json(),
    {
      metrics: {
        customer_id: customer.id,
        name: 'New Customer',
        customer_type: 'walk_in',
        created_at: customer.created_at,
        total_purchases: 0,
        total_spent: '0.00',
        avg_transaction_value: '0.00',
        total_items_bought: '0.000',
        first_purchase_date: null,
        last_purchase_date: null,
        days_since_last_purchase: null,
        is_repeat_customer: false,
        repeat_frequency: 'new',
        loyalty_tier: 'new',
        customer_lifetime_value: '0.00',
        preferred_payment: null,
        favorite_products: [],
        can_receive_offers: true,
        can_receive_loyalty: true,
        do_not_contact: false,
        phone: null,
        email: null,
        prefer_sms: true,
        prefer_email: false,
        prefer_call: false,
      },
    },
    'body',
  )
  const detail = await get(inject, businessId, `/${customer.id}`)
  t.equal(
    detail.json<CustomerResponse>().customer.preferences.average_spend,
    '0.00',
    'average_spend 0.00',
  )
})

t.test('days_since_last_purchase is whole days, computed when read', async (t) => {
  const { inject } = await fileServer(t)
  const businessId = 303
  const cases: { name: string; ago: number; expected: number }[] = [
    { name: 'an hour ago', ago: HOUR_MS, expected: 0 },
    { name: '23 hours ago', ago: 23 * HOUR_MS, expected: 0 },
    { name: 'a day and an hour ago', ago: DAY_MS + HOUR_MS, expected: 1 },
    { name: '3 days and 1 hour ago', ago: 3 * DAY_MS + HOUR_MS, expected: 3 },
    { name: '3 days less an hour ago', ago: 3 * DAY_MS - HOUR_MS, expected: 2 },
    { name: '400 days and 1 hour ago', ago: 400 * DAY_MS + HOUR_MS, expected: 400 },
  ]
  for (const c of cases) {
    const customer = await createCustomer(inject, businessId, { name: `Customer ${++sequence}` })
    await sell(inject, businessId, customer.id, `D-${customer.id}`, {
      total: '10.00',
      at: new Date(Date.now() - c.ago).toISOString(),
    })
    const metrics = await metricsOf(inject, businessId, customer.id)
    t.equal(metrics.days_since_last_purchase, c.expected, `${c.name}: days`)
  }
})

t.test('repeat_frequency and loyalty_tier follow one rule at every boundary', async (t) => {
  const { inject } = await fileServer(t)
  const businessId = 304
  const cases: { name: string; completed: number; voided: number; tier: string }[] = [
    { name: '0 purchases', completed: 0, voided: 0, tier: 'new' },
    { name: '1 purchase', completed: 1, voided: 0, tier: 'one_time' },
    { name: '2 purchases', completed: 2, voided: 0, tier: 'occasional' },
    { name: '4 purchases', completed: 4, voided: 0, tier: 'occasional' },
    { name: '5 purchases', completed: 5, voided: 0, tier: 'regular' },
    { name: '9 purchases', completed: 9, voided: 0, tier: 'regular' },
    { name: '10 purchases', completed: 10, voided: 0, tier: 'frequent' },
    { name: '1 voided sale only', completed: 1, voided: 1, tier: 'new' },
    { name: '2 sales, 1 voided', completed: 2, voided: 1, tier: 'one_time' },
    { name: '5 sales, 1 voided', completed: 5, voided: 1, tier: 'occasional' },
    { name: '10 sales, 1 voided', completed: 10, voided: 1, tier: 'regular' },
  ]
  for (const c of cases) {
    const customer = await createCustomer(inject, businessId, { name: `Customer ${++sequence}` })
    await sellMany(inject, businessId, customer.id, c.completed)
    for (let i = 0; i < c.voided; i++) {
      await voidSale(inject, businessId, customer.id, `C${customer.id}-${i}`)
    }
    const purchases = c.completed - c.voided
    const metrics = await metricsOf(inject, businessId, customer.id)
    t.equal(metrics.total_purchases, purchases, `${c.name}: total_purchases`)
    t.equal(metrics.total_spent, `${purchases * 100}.00`, `${c.name}: total_spent`)
    t.equal(metrics.repeat_frequency, c.tier, `${c.name}: repeat_frequency`)
    t.equal(metrics.loyalty_tier, c.tier, `${c.name}: loyalty_tier`)
    t.equal(metrics.is_repeat_customer, purchases >= 2, `${c.name}: is_repeat_customer`)
  }
})

t.test('metrics and history: 404 for a customer not in the business', async (t) => {
  const { inject } = await fileServer(t)
  const [businessId, otherBusinessId] = [305, 306]
  await createCustomer(inject, businessId, { name: `Customer ${++sequence}` })
  const stranger = await createCustomer(inject, otherBusinessId, { name: `Customer ${++sequence}` })
  await sell(inject, otherBusinessId, stranger.id, 'X-1', { total: '10.00' })
  const cases: { name: string; customerId: number }[] = [
    { name: 'unknown customer', customerId: 999_999_999 },
    { name: "another business's customer", customerId: stranger.id },
  ]
  for (const c of cases) {
    for (const endpoint of ['metrics', 'history']) {
      const res = await get(inject, businessId, `/${c.customerId}/${endpoint}`)
      t.equal(res.statusCode, 404, `${c.name}, ${endpoint}: status`)
      t.equal(res.json<ApiError>().error, 'Customer not found', `${c.name}, ${endpoint}: error`)
    }
  }
})

t.test('a soft-deleted customer still answers metrics and history', async (t) => {
  const { inject } = await fileServer(t)
  const businessId = 307
  const customer = await createCustomer(inject, businessId, { name: `Customer ${++sequence}` })
  await sell(inject, businessId, customer.id, 'SD-1', {
    total: '700.00',
    at: '2026-02-01T08:00:00.000Z',
    payment: 'credit',
  })
  await sell(inject, businessId, customer.id, 'SD-2', {
    total: '300.00',
    at: '2026-02-02T08:00:00.000Z',
  })
  const metricsBefore = await metricsOf(inject, businessId, customer.id)
  const historyBefore = await get(inject, businessId, `/${customer.id}/history`)
  await softDelete(inject, businessId, customer.id)

  const metrics = await get(inject, businessId, `/${customer.id}/metrics`)
  t.equal(metrics.statusCode, 200, 'metrics: status')
  t.same(metrics.json<CustomerMetricsResponse>().metrics, metricsBefore, 'metrics: unchanged')
  t.equal(metricsBefore.total_spent, '1000.00', 'metrics: figures kept')

  const history = await get(inject, businessId, `/${customer.id}/history`)
  t.equal(history.statusCode, 200, 'history: status')
  t.same(history.json(), historyBefore.json(), 'history: unchanged')
  t.same(saleIds(history), ['SD-2', 'SD-1'], 'history: sales kept')
})

// ---------------------------------------------------------------------------------------------
// 11. History
// ---------------------------------------------------------------------------------------------

t.test('history: newest first, each sale with its status, summary nets refunds', async (t) => {
  const { inject } = await fileServer(t)
  const businessId = 308
  const customer = await createCustomer(inject, businessId, { name: `Customer ${++sequence}` })
  const c = customer.id
  await sell(inject, businessId, c, 'H-A', {
    total: '100.00',
    at: '2026-03-01T10:00:00.000Z',
    items: 1,
    payment: 'cash',
  })
  await sell(inject, businessId, c, 'H-B', {
    total: '200.00',
    at: '2026-03-02T10:00:00.000Z',
    items: '2.5',
    payment: 'mpesa',
  })
  await refund(inject, businessId, c, 'H-B', '50.00')
  await sell(inject, businessId, c, 'H-C', { total: '300.00', at: '2026-03-03T10:00:00.000Z' })
  await voidSale(inject, businessId, c, 'H-C')
  // Two sales at the same instant: ties go by sale_id, descending.
  await sell(inject, businessId, c, 'H-D', {
    total: '400.00',
    at: '2026-03-04T10:00:00.000Z',
    payment: 'credit',
  })
  await sell(inject, businessId, c, 'H-E', {
    total: '500.00',
    at: '2026-03-04T10:00:00.000Z',
    payment: 'credit',
  })
  await sell(inject, businessId, c, 'H-F', {
    total: '600.00',
    at: '2026-03-05T10:00:00.000Z',
    items: 6,
    payment: 'mpesa',
  })
  await refund(inject, businessId, c, 'H-F', '100.00')
  await voidSale(inject, businessId, c, 'H-F')
  // A void of a sale whose completion never came: nothing to show yet.
  await voidSale(inject, businessId, c, 'H-G')

  const res = await get(inject, businessId, `/${c}/history`)
  t.equal(res.statusCode, 200, 'status')
  const sale = (
    id: string,
    total: string,
    refunded: string,
    items: number,
    payment: Sale['payment_method'],
    status: Sale['status'],
    at: string,
  ): Sale => ({
    sale_id: id,
    total_amount: total,
    refunded_amount: refunded,
    items_count: items,
    payment_method: payment,
    status,
    completed_at: at,
  })
  t.same(
    res.json(),
    {
      sales: [
        sale('H-F', '600.00', '100.00', 6, 'mpesa', 'voided', '2026-03-05T10:00:00.000Z'),
        sale('H-E', '500.00', '0.00', 0, 'credit', 'completed', '2026-03-04T10:00:00.000Z'),
        sale('H-D', '400.00', '0.00', 0, 'credit', 'completed', '2026-03-04T10:00:00.000Z'),
        sale('H-C', '300.00', '0.00', 0, null, 'voided', '2026-03-03T10:00:00.000Z'),
        sale('H-B', '200.00', '50.00', 2.5, 'mpesa', 'refunded', '2026-03-02T10:00:00.000Z'),
        sale('H-A', '100.00', '0.00', 1, 'cash', 'completed', '2026-03-01T10:00:00.000Z'),
      ],
      total: 6,
      summary: { total_sales: 4, total_amount: '1150.00', avg_amount: '287.50' },
      limit: 10,
      offset: 0,
    },
    'body',
  )
  // t.same compares loosely ("6.000" == 6): the JSON text shows the type.
  t.match(
    res.body,
    /"sale_id":"H-F","total_amount":"600.00","refunded_amount":"100.00","items_count":6,/,
  )
  t.match(res.body, /"sale_id":"H-B",[^}]*"items_count":2.5,/, 'weighed goods keep their decimals')
  const metrics = await metricsOf(inject, businessId, c)
  t.equal(metrics.total_purchases, 4, 'summary counts as the metrics do: purchases')
  t.equal(metrics.total_spent, '1150.00', 'summary counts as the metrics do: spent')
})

t.test(
  'history: start_date and end_date are inclusive; a bare date is a whole UTC day',
  async (t) => {
    const { inject } = await fileServer(t)
    const businessId = 309
    const customer = await createCustomer(inject, businessId, { name: `Customer ${++sequence}` })
    const sales: [string, string, string][] = [
      ['F-0', '2026-04-09T23:59:59.999Z', '10.00'],
      ['F-1', '2026-04-10T00:00:00.000Z', '20.00'],
      ['F-2', '2026-04-10T23:59:59.999Z', '30.00'],
      ['F-3', '2026-04-11T00:00:00.000Z', '40.00'],
    ]
    for (const [id, at, total] of sales) {
      await sell(inject, businessId, customer.id, id, { total, at })
    }
    await voidSale(inject, businessId, customer.id, 'F-1')

    const cases: {
      name: string
      query: string
      ids: string[]
      summary: SalesHistory['summary']
    }[] = [
      {
        name: 'no filter',
        query: '',
        ids: ['F-3', 'F-2', 'F-1', 'F-0'],
        summary: { total_sales: 3, total_amount: '80.00', avg_amount: '26.67' },
      },
      {
        name: 'one whole day',
        query: 'start_date=2026-04-10&end_date=2026-04-10',
        ids: ['F-2', 'F-1'],
        summary: { total_sales: 1, total_amount: '30.00', avg_amount: '30.00' },
      },
      {
        name: 'from a day on',
        query: 'start_date=2026-04-10',
        ids: ['F-3', 'F-2', 'F-1'],
        summary: { total_sales: 2, total_amount: '70.00', avg_amount: '35.00' },
      },
      {
        name: 'up to a day, inclusive',
        query: 'end_date=2026-04-10',
        ids: ['F-2', 'F-1', 'F-0'],
        summary: { total_sales: 2, total_amount: '40.00', avg_amount: '20.00' },
      },
      {
        name: 'date-times are inclusive bounds',
        query: 'start_date=2026-04-10T23:59:59.999Z&end_date=2026-04-11T00:00:00Z',
        ids: ['F-3', 'F-2'],
        summary: { total_sales: 2, total_amount: '70.00', avg_amount: '35.00' },
      },
      {
        name: 'a date-time start and a bare end date on the same day',
        query: 'start_date=2026-04-10T12:00:00Z&end_date=2026-04-10',
        ids: ['F-2'],
        summary: { total_sales: 1, total_amount: '30.00', avg_amount: '30.00' },
      },
      {
        name: 'a date-time with an offset',
        query: `end_date=${encodeURIComponent('2026-04-10T02:59:59.999+03:00')}`,
        ids: ['F-0'],
        summary: { total_sales: 1, total_amount: '10.00', avg_amount: '10.00' },
      },
      {
        name: 'nothing in range',
        query: 'start_date=2026-04-12',
        ids: [],
        summary: { total_sales: 0, total_amount: '0.00', avg_amount: '0.00' },
      },
      {
        name: 'only a voided sale in range',
        query: 'start_date=2026-04-10T00:00:00Z&end_date=2026-04-10T00:00:00Z',
        ids: ['F-1'],
        summary: { total_sales: 0, total_amount: '0.00', avg_amount: '0.00' },
      },
    ]
    for (const c of cases) {
      const res = await get(inject, businessId, `/${customer.id}/history?${c.query}`)
      t.equal(res.statusCode, 200, `${c.name}: status`)
      const body = res.json<SalesHistory>()
      t.same(saleIds(res), c.ids, `${c.name}: sales`)
      t.equal(body.total, c.ids.length, `${c.name}: total`)
      t.same(body.summary, c.summary, `${c.name}: summary`)
    }
  },
)

t.test('history: a bad date or a start after the end is a 400', async (t) => {
  const { inject } = await fileServer(t)
  const businessId = 310
  const customer = await createCustomer(inject, businessId, { name: `Customer ${++sequence}` })
  const cases: { name: string; query: string; path: string }[] = [
    { name: 'month 13', query: 'start_date=2026-13-01', path: 'start_date' },
    { name: 'day 32', query: 'end_date=2026-01-32', path: 'end_date' },
    { name: 'a word', query: 'start_date=yesterday', path: 'start_date' },
    { name: 'day-first date', query: 'end_date=10/04/2026', path: 'end_date' },
    { name: 'hour 25', query: 'start_date=2026-04-10T25:00:00Z', path: 'start_date' },
    { name: 'unix seconds', query: 'end_date=1775779200', path: 'end_date' },
    {
      name: 'start day after end day',
      query: 'start_date=2026-04-11&end_date=2026-04-10',
      path: 'start_date',
    },
    {
      name: 'start instant after end instant',
      query: 'start_date=2026-04-10T12:00:00Z&end_date=2026-04-10T11:59:59Z',
      path: 'start_date',
    },
    { name: 'limit 0', query: 'limit=0', path: 'limit' },
    { name: 'limit 101', query: 'limit=101', path: 'limit' },
    { name: 'offset -1', query: 'offset=-1', path: 'offset' },
  ]
  for (const c of cases) {
    const res = await get(inject, businessId, `/${customer.id}/history?${c.query}`)
    t.equal(res.statusCode, 400, `${c.name}: status`)
    t.equal(res.json<ApiError>().error, 'Validation failed', `${c.name}: error`)
    const paths = detailPaths(res)
    t.ok(paths.includes(c.path), `${c.name}: details name ${c.path} (got ${paths.join(', ')})`)
  }
})

t.test('history: limit and offset page through every match; total counts them all', async (t) => {
  const { inject } = await fileServer(t)
  const businessId = 311
  const customer = await createCustomer(inject, businessId, { name: `Customer ${++sequence}` })
  await sellMany(inject, businessId, customer.id, 12, '10.00')
  const all = Array.from({ length: 12 }, (_, i) => `C${customer.id}-${11 - i}`)
  const summary = { total_sales: 12, total_amount: '120.00', avg_amount: '10.00' }

  const cases: {
    name: string
    query: string
    ids: string[]
    limit: number
    offset: number
    slash?: boolean
  }[] = [
    { name: 'defaults', query: '', ids: all.slice(0, 10), limit: 10, offset: 0 },
    { name: 'first page of 5', query: 'limit=5', ids: all.slice(0, 5), limit: 5, offset: 0 },
    {
      name: 'second page of 5',
      query: 'limit=5&offset=5',
      ids: all.slice(5, 10),
      limit: 5,
      offset: 5,
    },
    {
      name: 'last, short page',
      query: 'limit=5&offset=10',
      ids: all.slice(10),
      limit: 5,
      offset: 10,
    },
    { name: 'offset past the end', query: 'offset=12', ids: [], limit: 10, offset: 12 },
    { name: 'everything', query: 'limit=100', ids: all, limit: 100, offset: 0 },
    {
      name: 'trailing slash',
      query: 'limit=3',
      ids: all.slice(0, 3),
      limit: 3,
      offset: 0,
      slash: true,
    },
  ]
  for (const c of cases) {
    const path = `/${customer.id}/history${c.slash ? '/' : ''}`
    const res = await get(inject, businessId, `${path}?${c.query}`)
    t.equal(res.statusCode, 200, `${c.name}: status`)
    const body = res.json<SalesHistory>()
    t.same(saleIds(res), c.ids, `${c.name}: sales`)
    t.equal(body.total, 12, `${c.name}: total counts every match`)
    t.equal(body.limit, c.limit, `${c.name}: limit`)
    t.equal(body.offset, c.offset, `${c.name}: offset`)
    t.same(body.summary, summary, `${c.name}: summary covers every match`)
  }
})

// ---------------------------------------------------------------------------------------------
// 12. Repeat customers
// ---------------------------------------------------------------------------------------------

t.test('repeat customers: active, enough purchases, by total_spent then id', async (t) => {
  const { inject } = await fileServer(t)
  const businessId = 312
  // Created in this order, so B's id is lower than A's: the tie between them goes to B.
  const b = await createCustomer(inject, businessId, { name: 'B' })
  const a = await createCustomer(inject, businessId, { name: 'A' })
  const c = await createCustomer(inject, businessId, { name: 'C' })
  const d = await createCustomer(inject, businessId, { name: 'D' })
  const e = await createCustomer(inject, businessId, { name: 'E (deleted)' })
  const f = await createCustomer(inject, businessId, { name: 'F' })
  await createCustomer(inject, businessId, { name: 'G (no sales)' })
  await sellMany(inject, businessId, b.id, 2, '1500.00')
  await sellMany(inject, businessId, a.id, 3, '1000.00')
  await sellMany(inject, businessId, c.id, 5, '1000.00')
  await sellMany(inject, businessId, d.id, 1, '9000.00')
  await sellMany(inject, businessId, e.id, 2, '8000.00')
  await softDelete(inject, businessId, e.id)
  await sellMany(inject, businessId, f.id, 3, '100.00')
  await voidSale(inject, businessId, f.id, `C${f.id}-0`)

  const ids = {
    [a.id]: 'A',
    [b.id]: 'B',
    [c.id]: 'C',
    [d.id]: 'D',
    [e.id]: 'E',
    [f.id]: 'F',
  }
  const names = (res: LightMyRequestResponse): string[] =>
    res.json<RepeatCustomers>().customers.map((customer) => ids[customer.id] ?? String(customer.id))

  const cases: { name: string; query: string; expected: string[]; min: number }[] = [
    { name: 'defaults', query: '', expected: ['C', 'B', 'A', 'F'], min: 2 },
    {
      name: 'min_purchases 1',
      query: 'min_purchases=1',
      expected: ['D', 'C', 'B', 'A', 'F'],
      min: 1,
    },
    { name: 'min_purchases 3', query: 'min_purchases=3', expected: ['C', 'A'], min: 3 },
    { name: 'min_purchases 5', query: 'min_purchases=5', expected: ['C'], min: 5 },
    { name: 'min_purchases 6', query: 'min_purchases=6', expected: [], min: 6 },
    { name: 'limit 2', query: 'limit=2', expected: ['C', 'B'], min: 2 },
    { name: 'limit 2 offset 2', query: 'limit=2&offset=2', expected: ['A', 'F'], min: 2 },
    { name: 'offset 3', query: 'offset=3', expected: ['F'], min: 2 },
    { name: 'offset past the end', query: 'offset=4', expected: [], min: 2 },
  ]
  for (const c of cases) {
    const res = await get(inject, businessId, `/repeat?${c.query}`)
    t.equal(res.statusCode, 200, `${c.name}: status`)
    const body = res.json<RepeatCustomers>()
    t.same(names(res), c.expected, `${c.name}: customers in order`)
    t.equal(body.count, c.expected.length, `${c.name}: count is the number returned`)
    t.same(body.filter, { min_purchases: c.min }, `${c.name}: filter echoes min_purchases`)
  }

  const res = await get(inject, businessId, '/repeat')
  const [top, , , last] = res.json<RepeatCustomers>().customers
  t.match(
    top,
    {
      id: c.id,
      business_id: businessId,
      name: 'C',
      is_active: true,
      total_purchases: 5,
      total_spent: '5000.00',
      avg_transaction_value: '1000.00',
      last_purchase_date: '2026-01-05T12:00:00.000Z',
      repeat_frequency: 'regular',
      customer_lifetime_value: '5000.00',
    },
    'the top customer carries its figures',
  )
  t.match(
    last,
    { id: f.id, total_purchases: 2, total_spent: '200.00', repeat_frequency: 'occasional' },
    'voided sales do not count',
  )
})

t.test('repeat customers: invalid query parameters are a 400', async (t) => {
  const { inject } = await fileServer(t)
  const businessId = 313
  await createCustomer(inject, businessId, { name: `Customer ${++sequence}` })
  const cases: { name: string; query: string; path: string }[] = [
    { name: 'min_purchases 0', query: 'min_purchases=0', path: 'min_purchases' },
    { name: 'min_purchases -1', query: 'min_purchases=-1', path: 'min_purchases' },
    { name: 'min_purchases abc', query: 'min_purchases=abc', path: 'min_purchases' },
    { name: 'min_purchases 1.5', query: 'min_purchases=1.5', path: 'min_purchases' },
    { name: 'limit 0', query: 'limit=0', path: 'limit' },
    { name: 'limit 101', query: 'limit=101', path: 'limit' },
    { name: 'offset -1', query: 'offset=-1', path: 'offset' },
  ]
  for (const c of cases) {
    const res = await get(inject, businessId, `/repeat?${c.query}`)
    t.equal(res.statusCode, 400, `${c.name}: status`)
    t.equal(res.json<ApiError>().error, 'Validation failed', `${c.name}: error`)
    const paths = detailPaths(res)
    t.ok(paths.includes(c.path), `${c.name}: details name ${c.path} (got ${paths.join(', ')})`)
  }
})

// ---------------------------------------------------------------------------------------------
// 13. Analytics
// ---------------------------------------------------------------------------------------------

t.test('analytics of a business without customers: all zeros', async (t) => {
  const { inject } = await fileServer(t)
  const businessId = 314
  const res = await get(inject, businessId, '/analytics')
  t.equal(res.statusCode, 200, 'status')
  t.same(
    res.json(),
    {
      analytics: {
        total_customers: 0,
        active_customers: 0,
        repeat_customers: 0,
        repeat_customer_rate: 0,
        average_lifetime_value: '0.00',
        frequency_distribution: { new: 0, one_time: 0, occasional: 0, regular: 0, frequent: 0 },
      },
    },
    'body',
  )
})

t.test('analytics: totals include soft-deleted customers, the rest only active ones', async (t) => {
  const { inject } = await fileServer(t)
  const businessId = 315
  const otherBusinessId = 316
  const activeCustomer = async (sales: number): Promise<number> => {
    const customer = await createCustomer(inject, businessId, { name: `Customer ${++sequence}` })
    await sellMany(inject, businessId, customer.id, sales)
    return customer.id
  }
  await activeCustomer(0)
  await activeCustomer(0)
  const refundedOnce = await activeCustomer(1)
  const voidedOnce = await activeCustomer(2)
  await activeCustomer(2)
  await activeCustomer(5)
  await activeCustomer(10)
  await refund(inject, businessId, refundedOnce, `C${refundedOnce}-0`, '0.07')
  await voidSale(inject, businessId, voidedOnce, `C${voidedOnce}-1`)
  const deleted = await createCustomer(inject, businessId, { name: 'deleted' })
  await sellMany(inject, businessId, deleted.id, 12, '5000.00')
  await softDelete(inject, businessId, deleted.id)
  // Another business's customers never count here.
  const stranger = await createCustomer(inject, otherBusinessId, { name: `Customer ${++sequence}` })
  await sellMany(inject, otherBusinessId, stranger.id, 3)

  const res = await get(inject, businessId, '/analytics')
  t.equal(res.statusCode, 200, 'status')
  // Active: 0, 0, 1 (99.93), 1 (100.00), 2 (200.00), 5 (500.00), 10 (1000.00).
  t.same(
    res.json(),
    {
      analytics: {
        total_customers: 8,
        active_customers: 7,
        repeat_customers: 3,
        repeat_customer_rate: 42.86,
        average_lifetime_value: '271.42',
        frequency_distribution: { new: 2, one_time: 2, occasional: 1, regular: 1, frequent: 1 },
      },
    },
    'body',
  )

  const other = await get(inject, otherBusinessId, '/analytics')
  t.equal(other.statusCode, 200, 'other business: status')
  t.match(
    other.json<CustomerAnalyticsResponse>().analytics,
    {
      total_customers: 1,
      active_customers: 1,
      repeat_customers: 1,
      repeat_customer_rate: 100,
      average_lifetime_value: '300.00',
    },
    'other business: its own figures',
  )
})

t.test('analytics: repeat_customer_rate is a percent with two decimals', async (t) => {
  const { inject } = await fileServer(t)
  const cases: { name: string; businessId: number; purchases: number[]; rate: number }[] = [
    { name: '1 of 3', businessId: 317, purchases: [2, 1, 0], rate: 33.33 },
    { name: '2 of 3', businessId: 318, purchases: [2, 3, 0], rate: 66.67 },
    { name: '1 of 1', businessId: 319, purchases: [4], rate: 100 },
    { name: '0 of 2', businessId: 320, purchases: [1, 0], rate: 0 },
    { name: '1 of 8', businessId: 321, purchases: [2, 0, 0, 0, 0, 0, 0, 0], rate: 12.5 },
  ]
  for (const c of cases) {
    for (const purchases of c.purchases) {
      const customer = await createCustomer(inject, c.businessId, {
        name: `Customer ${++sequence}`,
      })
      await sellMany(inject, c.businessId, customer.id, purchases)
    }
    const res = await get(inject, c.businessId, '/analytics')
    t.equal(res.statusCode, 200, `${c.name}: status`)
    const analytics = res.json<CustomerAnalyticsResponse>().analytics
    t.equal(analytics.repeat_customer_rate, c.rate, `${c.name}: rate`)
    t.equal(
      analytics.repeat_customers,
      c.purchases.filter((n) => n >= 2).length,
      `${c.name}: repeat_customers`,
    )
  }
})
