/**
 * The erasure's scrub finds a customer's earlier events through its change history and its
 * purchase history's events (migration 2026-12-05T1300), not through an index of every event by
 * customer. So every write path that makes an event is made here before the erasure, and every
 * one of those events must come out of it holding none of the person's values, while other
 * customers' events keep theirs.
 */
import { sql } from 'kysely'
import t from 'tap'
import type { Event } from '../../../../generated/schemas/Event.js'
import type { EventsPage } from '../../../../generated/schemas/EventsPage.js'
import { authFor, fileServer, onPostgres, type TestServer } from '../../../helper.js'
import { postEvent } from '../../../sales-feed.js'
import { assertEventsHoldNone } from '../../../support/assertions.js'
import { createCustomerId } from '../../../support/customers.js'
import { importFile } from '../../../support/imports.js'

const BUSINESS = 3131
/** More customers than the writer's notes keep (2026-12-05T1100), in one import. */
const BULK = 99

const server: TestServer = await fileServer(t)
const { inject } = server
const { db } = server.database

async function call(method: 'POST' | 'PATCH', url: string, payload?: object) {
  const response = await inject({
    method,
    url: `/api/customers/${BUSINESS}${url}`,
    headers: authFor(BUSINESS),
    ...(payload ? { payload } : {}),
  })
  if (response.statusCode >= 300) throw new Error(`${method} ${url}: ${response.body}`)
  return response
}

async function everyEvent(): Promise<Event[]> {
  const events: Event[] = []
  let after = ''
  for (;;) {
    const response = await inject({
      method: 'GET',
      url: `/api/customers/${BUSINESS}/events?limit=1000${after && `&after=${after}`}`,
      headers: authFor(BUSINESS),
    })
    const page = response.json<EventsPage>()
    events.push(...page.events)
    if (page.events.length < 1000) return events
    after = page.next
  }
}

function sale(key: string, customer: number) {
  return postEvent(inject, {
    id: `scrub-${key}`,
    type: 'sale.completed',
    created_at: new Date().toISOString(),
    data: {
      sale_id: `SCRUB-${key}`,
      business_id: BUSINESS,
      customer_id: customer,
      total_amount: '640.00',
      items_count: 1,
      payment_method: 'mpesa',
      completed_at: '2026-11-30T10:00:00.000Z',
    },
  })
}

t.test('an erasure scrubs the events of every write path, and only its own', async (t) => {
  t.comment(onPostgres() ? 'PostgreSQL' : 'PGlite')
  const person = {
    name: 'Wanjiru Scrub-Kamau',
    phone: '0799 123 460',
    email: 'wanjiru.scrub@example.co.ke',
    address: 'Plot 1 First Lane',
  }
  const former = [
    person.name,
    '+254799123460',
    person.email,
    person.address,
    'Plot 2 Second Lane',
    'After the Friday prayers',
  ]
  const id = await createCustomerId(inject, BUSINESS, person)
  await call('PATCH', `/${id}`, { address: 'Plot 2 Second Lane' })
  await call('PATCH', `/${id}/preferences`, { best_contact_time: 'After the Friday prayers' })
  await call('POST', `/${id}/consents`, {
    channel: 'sms',
    purpose: 'marketing',
    status: 'granted',
    source: 'api',
  })
  t.equal((await sale('1', id)).statusCode, 200, 'a sale')
  const source = await createCustomerId(inject, BUSINESS, {
    name: 'Otieno Source',
    email: 'otieno.source@example.co.ke',
  })
  const merge = await call('POST', `/${id}/merge`, { source_ids: [source] })
  await call('POST', `/merges/${merge.json().merge.id as number}/undo`)
  const rows = Array.from(
    { length: BULK },
    (_, n) => `Bulk ${n},07120${String(n).padStart(5, '0')},regular`,
  )
  const imported = await importFile(
    server,
    BUSINESS,
    authFor(BUSINESS),
    ['name,phone,customer_type', `${person.name},${person.phone},vip`, ...rows].join('\r\n'),
    '?mode=upsert',
  )
  t.match(
    imported,
    { created: BULK, updated: 1 },
    `the import: ${BULK} created, the person updated`,
  )
  t.equal((await sale('2', id)).statusCode, 200, 'a second sale')

  const before = (await everyEvent()).filter((event) => event.customer_id === id)
  t.same(
    [...new Set(before.map((event) => event.type))].sort(),
    [
      'consent.changed',
      'customer.created',
      'customer.merged',
      'customer.unmerged',
      'customer.updated',
      'purchase_history.updated',
    ],
    'the customer has events of every kind a live customer can have',
  )
  t.ok(
    before.some((event) => JSON.stringify(event).includes(person.name)),
    'and they hold the person before the erasure',
  )

  await call('POST', `/${id}/erase`, { reason: 'Asked by SMS' })
  const after = await everyEvent()
  const ofPerson = after.filter((event) => event.customer_id === id)
  t.same(
    ofPerson.map((event) => event.id),
    [...before.map((event) => event.id), ofPerson.at(-1)?.id],
    'no event lost, one added',
  )
  t.equal(ofPerson.at(-1)?.type, 'customer.erased', 'the erasure')
  assertEventsHoldNone(t, ofPerson, former)
  const others = after.filter((event) => event.customer_id !== id)
  const named = (name: string) =>
    others.filter((event) => JSON.stringify(event.data).includes(name)).length
  t.ok(named('Otieno Source') >= 3, "the merge's source keeps its own data")
  t.equal(named('"Bulk '), BULK, 'every imported customer keeps its own data')

  // What the scrub relies on, over every event this file's writes made: an event of any other
  // kind than a purchase history's is of a transaction that changed its customer.
  const { rows: outbox } = await sql<{ events: number; unfindable: number }>`select
      count(*)::int as events,
      count(*) filter (where e.type <> 'purchase_history.updated' and not exists (
        select 1 from customer_changes c where c.business_id = e.business_id
          and c.customer_id = e.customer_id and c.transaction_id = e.transaction_id))::int
        as unfindable
    from customer_events e where e.business_id = ${BUSINESS}`.execute(db)
  t.ok((outbox[0]?.events ?? 0) > BULK, `${outbox[0]?.events} events checked`)
  t.equal(outbox[0]?.unfindable, 0, 'every event not of a purchase history has its change')
})

t.test('only history events are indexed by customer; the rest by transaction', async (t) => {
  const { rows } = await sql<{ indexdef: string }>`select indexdef from pg_indexes
    where tablename = 'customer_events' order by indexname`.execute(db)
  const keyedBy = (columns: string) =>
    rows
      .filter((row) => row.indexdef.includes(`(business_id, ${columns})`))
      .map((row) => row.indexdef.replace(/^CREATE (UNIQUE )?INDEX \S+ ON \S+ USING btree /, ''))
  t.same(
    keyedBy('customer_id, transaction_id'),
    ["(business_id, customer_id, transaction_id) WHERE (type = 'purchase_history.updated'::text)"],
    'by customer: history events only',
  )
  t.same(
    keyedBy('transaction_id, customer_id'),
    ["(business_id, transaction_id, customer_id) WHERE (type <> 'purchase_history.updated'::text)"],
    'by transaction: every other event',
  )
  t.ok(
    rows.every((row) => !/\(business_id, customer_id\)/.test(row.indexdef)),
    'no other index by customer',
  )
  const { rows: type } = await sql<{ is_nullable: string }>`select is_nullable
    from information_schema.columns
    where table_name = 'customer_events' and column_name = 'type'`.execute(db)
  t.equal(type[0]?.is_nullable, 'NO', 'every event has a type, so one of the two covers it')
})
