import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { promisify } from 'node:util'
import Fastify from 'fastify'
import { sql } from 'kysely'
import t, { type Test } from 'tap'
import type { CustomerChanges } from '../../../../generated/schemas/CustomerChanges.js'
import app from '../../../../app.js'
import { serverOptions } from '../../../../server-options.js'
import {
  authFor,
  fileDatabaseUrl,
  fileServer,
  onPostgres,
  testConfig,
  testDatabase,
  type TestServer,
} from '../../../helper.js'
import { money, postEvent, withoutCustomer, type SaleEventBody } from '../../../sales-feed.js'
import { assertValidationFailed } from '../../../support/assertions.js'
import { captureLogs } from '../../../support/logs.js'

type Inject = TestServer['inject']
type Db = TestServer['database']['db']

/** What is held about the person erased: none of it may be found anywhere afterwards. */
const PERSON = {
  name: 'Zawadi Erasmus-Kiptoo',
  phone: '0799 123 457',
  e164: '+254799123457',
  email: 'zawadi.erasure@example.co.ke',
  address: 'Plot 77 Erasure Lane',
  contactTime: 'Mornings before 7 sharp',
  note: 'Likes the blue kikoi 4471',
  evidence: 'Signed form 8812-ZK',
}
/** The twin business's customer: the same sales, other personal data. */
const TWIN_PERSON = {
  name: 'Twin Customer',
  phone: '0788 000 111',
  e164: '+254788000111',
  email: 'twin@example.co.ke',
  address: 'Twin Road',
  contactTime: 'Evenings',
  note: 'Twin note',
  evidence: 'Twin form',
}
const FORMER = [
  PERSON.name,
  PERSON.e164,
  '254799123457',
  '799123457',
  PERSON.email,
  PERSON.address,
  PERSON.contactTime,
  PERSON.note,
  PERSON.evidence,
  // The payer's phone as the ledger hashed it, in hex as a dump writes bytea.
  createHash('sha256').update('254799123457').digest('hex'),
]

const api = (inject: Inject, business: number) =>
  async function call(
    method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
    url: string,
    payload?: object,
    headers: Record<string, string> = {},
  ) {
    return inject({
      method,
      url: `/api/customers/${business}${url}`,
      headers: { ...authFor(business), ...headers },
      ...(payload ? { payload } : {}),
    })
  }

function sale(business: number, saleId: string, customer: number | null, cents: number) {
  return {
    id: `erasure-${business}-${saleId}`,
    type: 'sale.completed',
    created_at: new Date().toISOString(),
    data: {
      sale_id: saleId,
      business_id: business,
      customer_id: customer,
      total_amount: money(cents),
      items_count: 1,
      payment_method: 'mpesa',
      completed_at: '2026-11-28T12:00:00.000Z',
    },
  } satisfies SaleEventBody
}

/** A customer with everything a shop can hold about someone, and one who is not erased. */
async function setUp(t: Test, inject: Inject, business: number, person = PERSON) {
  const call = api(inject, business)
  // An M-Pesa payment before they registered: attached on create, the payer's phone kept.
  const walkIn = await postEvent(
    inject,
    withoutCustomer(sale(business, 'MPESA-1', null, 120_00), { phone: person.e164 }),
  )
  t.equal(walkIn.json().status, 'unattributed', 'a walk-in M-Pesa sale waits')
  const created = await call(
    'POST',
    '',
    {
      name: person.name,
      phone: person.phone,
      email: person.email,
      address: person.address,
      customer_type: 'vip',
    },
    { 'idempotency-key': `erasure-create-${business}` },
  )
  t.equal(created.statusCode, 201, 'created (its answer kept for retries)')
  const id = created.json().customer.id as number
  const other = (await call('POST', '', { name: 'Baraka Otieno', phone: '0733 555 010' })).json()
    .customer.id as number
  await call('PATCH', `/${id}/preferences`, { best_contact_time: person.contactTime })
  await call('POST', `/${id}/notes`, { content: person.note })
  await call('POST', `/${id}/consents`, {
    channel: 'email',
    purpose: 'marketing',
    status: 'granted',
    source: 'web',
    evidence: person.evidence,
  })
  t.equal((await postEvent(inject, sale(business, 'S-1', id, 450_00))).statusCode, 200, 'a sale')
  t.equal((await postEvent(inject, sale(business, 'S-2', other, 90_00))).statusCode, 200, 'other')
  return { id, other }
}

async function stateOf(inject: Inject, business: number, id: number) {
  const call = api(inject, business)
  const customer = (await call('GET', `/${id}`)).json().customer
  const metrics = (await call('GET', `/${id}/metrics`)).json().metrics
  return { customer, metrics }
}

/** Every table's rows as text, for the business's rows and the rest. */
async function everyRowAsText(db: Db): Promise<string> {
  const { rows: tables } = await sql<{ schema: string; name: string }>`
    select table_schema as schema, table_name as name from information_schema.tables
    where table_type = 'BASE TABLE'
      and table_schema not in ('pg_catalog', 'information_schema')`.execute(db)
  const texts: string[] = []
  for (const table of tables) {
    const { rows } = await sql<{ row: string }>`select t::text as row
      from ${sql.table(`${table.schema}.${table.name}`)} t`.execute(db)
    texts.push(...rows.map((row) => row.row))
  }
  return texts.join('\n')
}

t.test(
  'erasure: nothing of the person is left anywhere; the books do not move; it is final',
  async (t) => {
    const { inject, database } = await fileServer(t)
    const db = database.db
    const business = 2301
    const twin = 2302
    const { id, other } = await setUp(t, inject, business)
    const { id: twinId } = await setUp(t, inject, twin, TWIN_PERSON)
    const before = await stateOf(inject, business, id)
    t.equal(before.metrics.total_purchases, 2, 'the attached M-Pesa sale and the named one')
    const otherBefore = await stateOf(inject, business, other)

    const call = api(inject, business)
    const erased = await call('POST', `/${id}/erase`, { reason: 'Asked at the till' })
    t.equal(erased.statusCode, 200, `erased: 200 ${erased.statusCode === 200 ? '' : erased.body}`)
    t.match(
      erased.json(),
      {
        message: 'Customer erased',
        customer: {
          id,
          name: 'Erased customer',
          phone: null,
          email: null,
          address: null,
          is_active: false,
          version: before.customer.version + 1,
        },
      },
      'the answer: what is left',
    )
    t.match(erased.json().customer.erased_at, /^\d{4}-\d\d-\d\dT/, 'erased_at')

    const text = await everyRowAsText(db)
    for (const value of FORMER) t.notOk(text.includes(value), `no row holds ${value}`)
    t.ok(text.includes('Baraka Otieno'), 'the other customer is untouched (the search works)')
    if (onPostgres()) {
      const dump = await promisify(execFile)('pg_dump', ['--data-only', fileDatabaseUrl()], {
        maxBuffer: 256 * 1024 * 1024,
      })
      for (const value of FORMER) t.notOk(dump.stdout.includes(value), `pg_dump: no ${value}`)
      t.ok(dump.stdout.includes('Baraka Otieno'), 'pg_dump: the other customer is there')
    }

    const after = await stateOf(inject, business, id)
    const books = (metrics: Record<string, unknown>) => ({
      total_purchases: metrics.total_purchases,
      total_spent: metrics.total_spent,
      avg_transaction_value: metrics.avg_transaction_value,
      customer_lifetime_value: metrics.customer_lifetime_value,
      first_purchase_date: metrics.first_purchase_date,
      last_purchase_date: metrics.last_purchase_date,
    })
    t.same(books(after.metrics), books(before.metrics), 'its totals and lifetime value stay')
    t.same(await stateOf(inject, business, other), otherBefore, 'the other customer as before')
    // The business's analytics as after any deactivation: the twin's, whose customer was deleted.
    await api(inject, twin)('DELETE', `/${twinId}`)
    const analytics = async (b: number) => (await api(inject, b)('GET', '/analytics')).json()
    t.same(await analytics(business), await analytics(twin), 'analytics as after a delete')

    const changes = (await call('GET', `/${id}/changes?limit=100`)).json<CustomerChanges>()
    t.equal(changes.changes[0]?.action, 'erased', 'the change history names the erasure')
    t.same(
      changes.changes[0]?.fields.reason,
      { from: null, to: 'Asked at the till' },
      'and keeps its reason',
    )
    t.ok(
      changes.changes.every((change) =>
        Object.entries(change.fields).every(
          ([field, value]) => field === 'reason' || (value.from === null && value.to === null),
        ),
      ),
      'no old or new value is left in the history',
    )
    const consents = (await call('GET', `/${id}/consents`)).json()
    t.ok(
      consents.current.every((consent: { status: string }) => consent.status === 'withdrawn'),
      'every consent withdrawn',
    )
    t.ok(
      consents.history.every(
        (record: { evidence: string | null }) =>
          record.evidence === null || record.evidence === '[erased]',
      ),
      'every evidence erased',
    )
    const notes = (await call('GET', `/${id}/notes`)).json()
    t.same(
      notes.notes.map((note: { content: string }) => note.content),
      ['[erased]'],
      'the note stays, its content erased',
    )
    const replay = await call(
      'POST',
      '',
      {
        name: PERSON.name,
        phone: PERSON.phone,
        email: PERSON.email,
        address: PERSON.address,
        customer_type: 'vip',
      },
      { 'idempotency-key': `erasure-create-${business}` },
    )
    t.equal(replay.statusCode, 201, 'a retry of the create still answers as it did')
    t.equal(
      replay.headers['idempotent-replayed'],
      'true',
      'a retry of the create is still a replay',
    )
    t.notOk(replay.body.includes(PERSON.name), 'but its answer no longer shows the person')

    // Final: every write is a 409 and changes nothing; reads answer.
    const writes: [string, 'POST' | 'PATCH' | 'DELETE', string, object?][] = [
      ['reactivation', 'PATCH', `/${id}`, { is_active: true }],
      ['an update', 'PATCH', `/${id}`, { name: 'Someone' }],
      ['a delete', 'DELETE', `/${id}`],
      ['a note', 'POST', `/${id}/notes`, { content: 'again' }],
      ['preferences', 'PATCH', `/${id}/preferences`, { favorite_products: [1] }],
      [
        'a consent',
        'POST',
        `/${id}/consents`,
        { channel: 'sms', purpose: 'service', status: 'granted', source: 'api' },
      ],
      ['a second erase', 'POST', `/${id}/erase`, { reason: 'again' }],
    ]
    const frozen = await stateOf(inject, business, id)
    for (const [name, method, url, payload] of writes) {
      const response = await call(method, url, payload)
      t.equal(response.statusCode, 409, `${name}: 409 ${response.body}`)
      t.equal(response.json().error, 'Customer erased', `${name}: says why`)
    }
    t.same(await stateOf(inject, business, id), frozen, 'nothing changed')

    // Sales naming the customer still apply their amounts; the payer never finds it again.
    const late = await postEvent(inject, sale(business, 'S-3', id, 70_00))
    t.match(late.json(), { status: 'processed', customer_id: id }, 'a later sale still applies')
    t.equal(
      (await stateOf(inject, business, id)).metrics.total_spent,
      money(Number(before.metrics.total_spent.replace('.', '')) + 70_00),
      'its amount counted',
    )
    const payer = await postEvent(
      inject,
      withoutCustomer(sale(business, 'MPESA-2', null, 10_00), { phone: PERSON.e164 }),
    )
    t.equal(payer.json().status, 'unattributed', 'the payer rule never finds it')
    const search = await call('GET', `/search?q=${encodeURIComponent('Erased')}`)
    t.equal(search.json().count, 0, 'search never finds it')
    const pairs = await call('GET', `/${id}/duplicates`)
    t.same(pairs.json().candidates, [], 'no duplicate pairs')
  },
)

t.test('validation, tenancy and unknown customers', async (t) => {
  const { inject } = await fileServer(t)
  const business = 2303
  const call = api(inject, business)
  const id = (await call('POST', '', { name: 'Achieng' })).json().customer.id as number
  const cases: { name: string; payload: unknown; path: string }[] = [
    { name: 'no reason', payload: {}, path: 'reason' },
    { name: 'an empty reason', payload: { reason: '   ' }, path: 'reason' },
    { name: 'a reason over 500', payload: { reason: 'r'.repeat(501) }, path: 'reason' },
    { name: 'a reason that is not text', payload: { reason: 5 }, path: 'reason' },
    { name: 'another field', payload: { reason: 'ok', also: 1 }, path: 'also' },
  ]
  for (const c of cases) {
    const response = await inject({
      method: 'POST',
      url: `/api/customers/${business}/${id}/erase`,
      headers: authFor(business),
      payload: c.payload as object,
    })
    assertValidationFailed(t, response, c.path, c.name)
  }
  t.equal((await call('GET', `/${id}`)).json().customer.name, 'Achieng', 'nothing erased')
  const foreign = await inject({
    method: 'POST',
    url: `/api/customers/${business}/${id}/erase`,
    headers: authFor(business + 1),
    payload: { reason: 'x' },
  })
  t.equal(foreign.statusCode, 403, "another business's token: 403")
  const crossed = await api(inject, business + 1)('POST', `/${id}/erase`, { reason: 'x' })
  t.equal(crossed.statusCode, 404, "another business's customer: 404")
  t.equal((await call('POST', '/999999/erase', { reason: 'x' })).statusCode, 404, 'unknown: 404')
  t.equal((await call('GET', `/${id}`)).json().customer.name, 'Achieng', 'still nothing erased')
})

t.test('the erase request logs no personal data', async (t) => {
  const logs = captureLogs()
  const fastify = Fastify(serverOptions({ logLevel: 'debug', stream: logs.stream }))
  await fastify.register(app, { config: testConfig(), database: await testDatabase() })
  await fastify.ready()
  t.teardown(() => fastify.close())
  const business = 2304
  const inject: Inject = (options) => fastify.inject(options)
  const call = api(inject, business)
  const created = await call('POST', '', {
    name: 'Logged Nobody',
    phone: '0711 987 650',
    email: 'logged.nobody@example.co.ke',
    address: 'Invisible Street 9',
  })
  const id = created.json().customer.id as number
  const before = logs.text().length
  const erased = await call('POST', `/${id}/erase`, { reason: 'Asked by Logged Nobody' })
  t.equal(erased.statusCode, 200, 'erased')
  const erasureLines = logs.text().slice(before)
  t.ok(erasureLines.includes(erased.headers['x-request-id'] as string), 'the request was logged')
  for (const value of [
    'Logged Nobody',
    '711987650',
    '+254711987650',
    'logged.nobody',
    'Invisible',
  ]) {
    t.notOk(erasureLines.includes(value), `its log lines hold no ${value}`)
  }
})
