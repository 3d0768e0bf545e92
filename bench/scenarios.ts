import { createHmac } from 'node:crypto'
import { sql, type Kysely } from 'kysely'
import {
  customerAnalytics,
  findMetricsRow,
  listRepeatCustomers,
} from '../db/customer-purchase-history.js'
import { listDuplicatePairs } from '../db/customer-duplicates.js'
import { listSales } from '../db/customer-sales.js'
import { findCustomerDetail, listCustomers, searchCustomers } from '../db/customers.js'
import type { Database } from '../db/database.js'
import { phoneSearchDigits, toE164 } from '../lib/phone.js'

/** What a scenario needs to know about the seeded data. */
export interface Fixture {
  businessId: number
  customerIds: number[]
  phoneFragments: string[]
  /** E.164 phones of the sampled customers: the payers of "webhook, payer match". */
  customerPhones: string[]
  emailFragments: string[]
  webhookSecret: string
  /** One customer that takes every event of the single-customer webhook scenario. */
  busyCustomerId: number
}

export interface HttpRequest {
  method: 'GET' | 'POST' | 'PATCH'
  path: string
  body?: string
  headers?: Record<string, string>
}

export interface Scenario {
  name: string
  /** The issue's target, when it sets one. */
  target?: { rps: number; p99?: number }
  request: (fixture: Fixture, sequence: number) => HttpRequest
  /** The same SQL the endpoint runs, for the floor measurement. */
  rawSql?: (db: Kysely<Database>, fixture: Fixture, sequence: number) => Promise<unknown>
  /** Data the scenario's requests need, written before its warm-up; removed by `cleanup`. */
  prepare?: (db: Kysely<Database>, fixture: Fixture) => Promise<void>
  cleanup?: (db: Kysely<Database>, fixture: Fixture) => Promise<void>
}

function pick<T>(items: T[], sequence: number): T {
  const item = items[(sequence * 7919) % items.length]
  if (item === undefined) throw new Error('nothing to pick from')
  return item
}
const api = (fixture: Fixture) => `/api/customers/${fixture.businessId}`
const json = { 'content-type': 'application/json' }
const RUN = Date.now().toString(36)

function signedEvent(fixture: Fixture, event: object): HttpRequest {
  const body = JSON.stringify(event)
  const t = Math.floor(Date.now() / 1000)
  const v1 = createHmac('sha256', fixture.webhookSecret).update(`${t}.${body}`).digest('hex')
  return {
    method: 'POST',
    path: '/webhooks/sales',
    body,
    headers: { ...json, 'payme-signature': `t=${t},v1=${v1}` },
  }
}

function saleEvent(
  fixture: Fixture,
  customerId: number | null,
  id: string,
  n: number,
  extra: Record<string, unknown> = {},
): HttpRequest {
  return signedEvent(fixture, {
    id: `bench-${id}`,
    type: 'sale.completed',
    created_at: new Date().toISOString(),
    data: {
      sale_id: `BENCH-${id}`,
      business_id: fixture.businessId,
      customer_id: customerId,
      total_amount: `${100 + (n % 5000)}.50`,
      items_count: 2,
      payment_method: 'mpesa',
      completed_at: new Date().toISOString(),
      ...extra,
    },
  })
}

/** Phones (+2547930nnnnn) that each have ATTACHING_SALES unattributed sales waiting. */
const ATTACHING_PHONES = 10_000
const ATTACHING_SALES = 50
const attachingPhone = (n: number): string =>
  `+2547930${String(n % ATTACHING_PHONES).padStart(5, '0')}`
const ATTACHING_SALE_PREFIX = `BENCH-ATTACH-${RUN}-`

const listQuery = {
  limit: 20,
  offset: 0,
  sortBy: 'created_at' as const,
  sortOrder: 'desc' as const,
  isActive: true,
}

async function rawList(
  db: Kysely<Database>,
  fixture: Fixture,
  query: Parameters<typeof listCustomers>[2],
) {
  return listCustomers(db, fixture.businessId, { ...query, limit: query.limit + 1 })
}

async function rawSearch(db: Kysely<Database>, fixture: Fixture, text: string) {
  return searchCustomers(db, fixture.businessId, {
    text,
    phoneDigits: phoneSearchDigits(text, 'KE'),
    phoneExact: toE164(text, 'KE'),
    limit: 10,
  })
}

export const SCENARIOS: Scenario[] = [
  {
    name: 'get customer',
    target: { rps: 3000, p99: 15 },
    request: (f, n) => ({ method: 'GET', path: `${api(f)}/${pick(f.customerIds, n)}` }),
    rawSql: (db, f, n) => findCustomerDetail(db, f.businessId, pick(f.customerIds, n), 100),
  },
  {
    name: 'list, first page',
    target: { rps: 2500, p99: 20 },
    request: (f) => ({ method: 'GET', path: api(f) }),
    rawSql: (db, f) => rawList(db, f, listQuery),
  },
  {
    name: 'list, deep page (offset 100000)',
    request: (f) => ({ method: 'GET', path: `${api(f)}?offset=100000` }),
    rawSql: (db, f) => rawList(db, f, { ...listQuery, offset: 100000 }),
  },
  {
    name: 'list, sort by name',
    request: (f) => ({ method: 'GET', path: `${api(f)}?sort_by=name&sort_order=asc` }),
    rawSql: (db, f) => rawList(db, f, { ...listQuery, sortBy: 'name', sortOrder: 'asc' }),
  },
  {
    name: 'list, sort by id',
    request: (f) => ({ method: 'GET', path: `${api(f)}?sort_by=id` }),
    rawSql: (db, f) => rawList(db, f, { ...listQuery, sortBy: 'id' }),
  },
  {
    name: 'list, filter_type=vip',
    request: (f) => ({ method: 'GET', path: `${api(f)}?filter_type=vip` }),
    rawSql: (db, f) => rawList(db, f, { ...listQuery, customerType: 'vip' }),
  },
  {
    name: 'search, rare name',
    target: { rps: 1500, p99: 25 },
    request: (f) => ({ method: 'GET', path: `${api(f)}/search?q=lemayia` }),
    rawSql: (db, f) => rawSearch(db, f, 'lemayia'),
  },
  {
    name: 'search, common name',
    request: (f) => ({ method: 'GET', path: `${api(f)}/search?q=wanjiru` }),
    rawSql: (db, f) => rawSearch(db, f, 'wanjiru'),
  },
  {
    name: 'search, phone fragment',
    target: { rps: 1500, p99: 25 },
    request: (f, n) => ({ method: 'GET', path: `${api(f)}/search?q=${pick(f.phoneFragments, n)}` }),
    rawSql: (db, f, n) => rawSearch(db, f, pick(f.phoneFragments, n)),
  },
  {
    name: 'search, email fragment',
    request: (f, n) => ({
      method: 'GET',
      path: `${api(f)}/search?q=${encodeURIComponent(pick(f.emailFragments, n))}`,
    }),
    rawSql: (db, f, n) => rawSearch(db, f, pick(f.emailFragments, n)),
  },
  {
    name: 'metrics',
    request: (f, n) => ({ method: 'GET', path: `${api(f)}/${pick(f.customerIds, n)}/metrics` }),
    rawSql: (db, f, n) => findMetricsRow(db, f.businessId, pick(f.customerIds, n)),
  },
  {
    name: 'history',
    request: (f, n) => ({ method: 'GET', path: `${api(f)}/${pick(f.customerIds, n)}/history` }),
    rawSql: (db, f, n) =>
      listSales(
        db,
        { businessId: f.businessId, customerId: pick(f.customerIds, n) },
        { limit: 10, offset: 0 },
      ),
  },
  {
    name: 'repeat customers, first page',
    target: { rps: 1500, p99: 25 },
    request: (f) => ({ method: 'GET', path: `${api(f)}/repeat` }),
    rawSql: (db, f) =>
      listRepeatCustomers(db, f.businessId, { minPurchases: 2, limit: 20, offset: 0 }),
  },
  {
    name: 'analytics',
    request: (f) => ({ method: 'GET', path: `${api(f)}/analytics` }),
    rawSql: (db, f) => customerAnalytics(db, f.businessId),
  },
  {
    name: 'duplicates, first page',
    request: (f) => ({ method: 'GET', path: `${api(f)}/duplicates` }),
    rawSql: (db, f) => listDuplicatePairs(db, f.businessId, { minScore: 0.5, limit: 21 }),
  },
  {
    name: 'duplicates of one customer',
    request: (f, n) => ({
      method: 'GET',
      path: `${api(f)}/${pick(f.customerIds, n)}/duplicates`,
    }),
    rawSql: (db, f, n) =>
      listDuplicatePairs(db, f.businessId, {
        customerId: pick(f.customerIds, n),
        minScore: 0.5,
        limit: 21,
      }),
  },
  {
    name: 'create customer',
    request: (f, n) => ({
      method: 'POST',
      path: api(f),
      body: JSON.stringify({
        name: `Bench ${RUN} ${n}`,
        phone: `07${String(10000000 + n).slice(-8)}`,
      }),
      headers: json,
    }),
  },
  {
    name: 'patch customer',
    request: (f, n) => ({
      method: 'PATCH',
      path: `${api(f)}/${pick(f.customerIds, n)}`,
      body: JSON.stringify({ customer_type: n % 2 ? 'regular' : 'vip' }),
      headers: json,
    }),
  },
  {
    // A fresh key per request: the claim and the stored answer ride in the write's transaction.
    name: 'create customer with Idempotency-Key',
    request: (f, n) => ({
      method: 'POST',
      path: api(f),
      body: JSON.stringify({
        name: `Bench keyed ${RUN} ${n}`,
        phone: `07${String(20000000 + n).slice(-8)}`,
      }),
      headers: { ...json, 'idempotency-key': `bench-${RUN}-${n}` },
    }),
  },
  {
    // `*` matches any version: the conditional update statement without a read first.
    name: 'patch customer with If-Match',
    request: (f, n) => ({
      method: 'PATCH',
      path: `${api(f)}/${pick(f.customerIds, n)}`,
      body: JSON.stringify({ customer_type: n % 2 ? 'regular' : 'vip' }),
      headers: { ...json, 'if-match': '*' },
    }),
  },
  {
    name: 'add note',
    request: (f, n) => ({
      method: 'POST',
      path: `${api(f)}/${pick(f.customerIds, n)}/notes`,
      body: JSON.stringify({ note_type: 'feedback', content: `Benchmark note ${n}` }),
      headers: json,
    }),
  },
  {
    name: 'webhook, distinct customers',
    target: { rps: 1500, p99: 50 },
    request: (f, n) => saleEvent(f, pick(f.customerIds, n), `${RUN}-d-${n}`, n),
  },
  {
    name: 'webhook, one customer',
    request: (f, n) => saleEvent(f, f.busyCustomerId, `${RUN}-o-${n}`, n),
  },
  {
    // No customer picked at the till: the payer's phone (in local format) finds the customer.
    name: 'webhook, payer match',
    request: (f, n) => {
      const phone = pick(f.customerPhones, n)
      return saleEvent(f, null, `${RUN}-p-${n}`, n, { payer: { phone: `0${phone.slice(4)}` } })
    },
  },
  {
    // Each new customer's phone has 50 M-Pesa sales waiting: they are attached and the history
    // computed in the create's transaction.
    name: 'create customer that attaches 50 sales',
    request: (f, n) => ({
      method: 'POST',
      path: api(f),
      body: JSON.stringify({ name: `Bench payer ${RUN} ${n}`, phone: attachingPhone(n) }),
      headers: json,
    }),
    prepare: async (db, f) => {
      await sql`insert into customer_sales (business_id, sale_id, customer_id, total_amount,
          items_count, payment_method, completed_at, payer_phone, payer_phone_sha256)
        select ${f.businessId}, ${ATTACHING_SALE_PREFIX} || p || '-' || s, null,
          100 + s, 1, 'mpesa', now() - make_interval(days => s), phone,
          sha256(convert_to(substr(phone, 2), 'UTF8'))
        from generate_series(0, ${ATTACHING_PHONES - 1}) p,
          generate_series(1, ${ATTACHING_SALES}) s,
          lateral (select '+2547930' || lpad(p::text, 5, '0') as phone) ph`.execute(db)
    },
    cleanup: async (db, f) => {
      // Leaves the attached sales with their customers; removes the ones nobody took.
      await sql`delete from customer_sales where business_id = ${f.businessId}
        and customer_id is null and sale_id like ${`${ATTACHING_SALE_PREFIX}%`}`.execute(db)
    },
  },
]
