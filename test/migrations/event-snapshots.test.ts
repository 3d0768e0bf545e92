/**
 * migrations/2026-12-04T2200-event-snapshots.ts expands the outbox without rewriting it: events
 * written before it keep their JSON in `data`, events written after keep typed snapshots, and
 * the feed shows both alike. Run here as it runs on a live database: the schema taken back one
 * step (which turns the snapshots into JSON), an event written by the old writer, then the
 * migration again; and an erasure afterwards scrubs the events of both forms.
 */
import { sql } from 'kysely'
import t from 'tap'
import type { Event } from '../../generated/schemas/Event.js'
import type { EventsPage } from '../../generated/schemas/EventsPage.js'
import { migratorFor } from '../../db/migrate.js'
import { authFor, build, type TestServer } from '../helper.js'
import { postEvent } from '../sales-feed.js'
import { assertEventsHoldNone } from '../support/assertions.js'
import { customerAsEventData, createCustomerId } from '../support/customers.js'

const BUSINESS = 971
const MIGRATION = '2026-12-04T2200-event-snapshots'
const BEFORE = '2026-12-04T1310-event-data-times-in-utc'

/** Requests of `business` through `inject` that must succeed. */
function caller(inject: TestServer['inject'], business: number) {
  return async (method: 'GET' | 'POST' | 'PATCH', url: string, payload?: object) => {
    const response = await inject({
      method,
      url: `/api/customers/${business}${url}`,
      headers: authFor(business),
      ...(payload ? { payload } : {}),
    })
    if (response.statusCode >= 300) throw new Error(`${method} ${url}: ${response.body}`)
    return response
  }
}

t.test('events of both forms read alike and are scrubbed alike', async (t) => {
  const { inject, database } = await build(t)
  const db = database.db
  const call = caller(inject, BUSINESS)
  const feed = async (): Promise<Event[]> =>
    (await call('GET', '/events?limit=1000')).json<EventsPage>().events
  const shown = (id: number) => customerAsEventData(inject, BUSINESS, id)
  const forms = async () => {
    const { rows } = await sql<{ json: boolean; snapshots: boolean }>`
      select data is not null as json, (customer_snapshot).id is not null as snapshots
      from customer_events where business_id = ${BUSINESS} order by id`.execute(db)
    return rows.map((row) => (row.json ? 'json' : '') + (row.snapshots ? 'snapshots' : ''))
  }

  const person = {
    name: 'Wanjiru Snapshot-Mwangi',
    phone: '0711 222 971',
    email: 'wanjiru.snapshot@example.co.ke',
    address: 'Plot 9 Outbox Road',
  }
  const id = await createCustomerId(inject, BUSINESS, person)
  await call('PATCH', `/${id}/preferences`, { best_contact_time: 'Evenings after 7' })
  const sold = await postEvent(inject, {
    id: 'snapshots-971-1',
    type: 'sale.completed',
    created_at: new Date().toISOString(),
    data: {
      sale_id: 'SNAP-971-1',
      business_id: BUSINESS,
      customer_id: id,
      total_amount: '1250.50',
      items_count: 3,
      payment_method: 'mpesa',
      completed_at: '2026-11-30T10:00:00.000Z',
    },
  })
  t.equal(sold.statusCode, 200, 'the sale is processed')
  const written = await feed()
  t.same(await forms(), ['snapshots', 'snapshots', 'snapshots'], 'new events keep snapshots')
  t.same(written.at(-1)?.data, await shown(id), 'a snapshot event shows the customer as shown')

  const migrator = migratorFor(db)
  // Back to the migration before it (those after it go back first).
  const down = await migrator.migrateTo(BEFORE)
  t.error(down.error, 'the migration goes back')
  t.same(down.results?.at(-1)?.migrationName, MIGRATION, 'down to just before this migration')
  await call('PATCH', `/${id}`, { customer_type: 'vip' })
  const patched = await shown(id)

  const up = await migrator.migrateToLatest()
  t.error(up.error, 'and comes again')
  t.same(await forms(), ['json', 'json', 'json', 'json'], 'events written before keep JSON')
  const read = await feed()
  t.same(read.slice(0, 3), written, 'events turned into JSON read as they did')
  t.same(read[3]?.type, 'customer.updated', 'the old writer wrote its event')
  t.same(read[3]?.data, patched, 'with the customer as shown then')

  await call('POST', `/${id}/erase`, { reason: 'The customer asked' })
  t.same(await forms(), ['json', 'json', 'json', 'json', 'snapshots'], 'both forms in the feed')
  const after = await feed()
  t.same(after.at(-1)?.type, 'customer.erased', 'the erasure is an event')
  t.same(after.at(-1)?.data, await shown(id), 'showing the erased customer')
  assertEventsHoldNone(t, after, [
    person.name,
    '+254711222971',
    person.email,
    person.address,
    'Evenings after 7',
  ])
  t.equal(
    (after[2]?.data.history as { total_spent: string }).total_spent,
    '1250.50',
    'what is not personal stays as it was',
  )
})

t.test('an erasure scrubs snapshot events as JSON events', async (t) => {
  const { inject, database } = await build(t)
  const business = BUSINESS + 1
  const call = caller(inject, business)
  const id = await createCustomerId(inject, business, {
    name: 'Otieno Scrub',
    phone: '0722 333 972',
  })
  await call('PATCH', `/${id}/preferences`, { best_contact_time: 'Noon' })
  await call('POST', `/${id}/erase`, { reason: 'Asked at the till' })
  const { rows } = await sql<{ customer: string | null; preferences: string | null }>`
    select (customer_snapshot).name as customer,
      (preferences_snapshot).best_contact_time as preferences
    from customer_events where business_id = ${business} order by id`.execute(database.db)
  const erased = rows.at(-1)
  t.equal(rows.length, 3, 'three events')
  t.same(
    rows.map((row) => [row.customer, row.preferences]),
    rows.map(() => [erased?.customer, erased?.preferences]),
    "the earlier events' snapshots hold the erased values",
  )
  t.not(erased?.customer, 'Otieno Scrub', 'which are not the name')
})
