/**
 * migrations/2026-12-04T2200-event-snapshots.ts expanded the outbox without rewriting it: events
 * written before it kept their JSON in `data`, events written after keep typed snapshots.
 * 2026-12-05T0500-event-data-contract turns the JSON into snapshots and empties `data`. Run here as
 * they run on a live database: the schema taken back before the expand (which turns the
 * snapshots into JSON), an event written by the old writer, then both migrations again; the
 * feed reads as it did, and an erasure afterwards scrubs every event. A JSON event that would
 * not read the same (or an event with neither form) stops the contract, which then changes
 * nothing.
 */
import { sql, type Kysely, type RawBuilder } from 'kysely'
import t from 'tap'
import type { Event } from '../../generated/schemas/Event.js'
import type { EventsPage } from '../../generated/schemas/EventsPage.js'
import type { Database } from '../../db/database.js'
import { migratorFor } from '../../db/migrate.js'
import { authFor, build, type TestServer } from '../helper.js'
import { postEvent } from '../sales-feed.js'
import { assertEventsHoldNone } from '../support/assertions.js'
import { customerAsEventData, createCustomerId } from '../support/customers.js'

const BUSINESS = 971
const MIGRATION = '2026-12-04T2200-event-snapshots'
const BEFORE = '2026-12-04T1310-event-data-times-in-utc'
const CONTRACT = '2026-12-05T0500-event-data-contract'
const BEFORE_CONTRACT = '2026-12-05T0100-event-sequencer-floor'

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

/** Per event of `business`, in id order: which forms it holds ('json', 'snapshots', both). */
async function formsOf(db: Kysely<Database>, business: number): Promise<string[]> {
  const { rows } = await sql<{ json: boolean; snapshots: boolean }>`
    select data is not null as json, (customer_snapshot).id is not null as snapshots
    from customer_events where business_id = ${business} order by id`.execute(db)
  return rows.map((row) => (row.json ? 'json' : '') + (row.snapshots ? 'snapshots' : ''))
}

/** Per event of `business`, in id order: whether it holds its snapshots. */
async function snapshotsOf(db: Kysely<Database>, business: number): Promise<boolean[]> {
  return (await formsOf(db, business)).map((forms) => forms.endsWith('snapshots'))
}

t.test('events written as JSON become snapshots that read alike and are scrubbed', async (t) => {
  const { inject, database } = await build(t)
  const db = database.db
  const call = caller(inject, BUSINESS)
  const feed = async (): Promise<Event[]> =>
    (await call('GET', '/events?limit=1000')).json<EventsPage>().events
  const shown = (id: number) => customerAsEventData(inject, BUSINESS, id)

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
  t.same(await snapshotsOf(db, BUSINESS), [true, true, true], 'new events keep snapshots')
  t.same(written.at(-1)?.data, await shown(id), 'a snapshot event shows the customer as shown')

  const migrator = migratorFor(db)
  // Back to the migration before the expand (those after it go back first).
  const down = await migrator.migrateTo(BEFORE)
  t.error(down.error, 'the migrations go back')
  t.same(
    down.results
      ?.map((result) => result.migrationName)
      .filter((name) => name === CONTRACT || name === MIGRATION),
    [CONTRACT, MIGRATION],
    'the contract goes back before the expand',
  )
  t.same(down.results?.at(-1)?.migrationName, MIGRATION, 'down to just before the expand')
  await call('PATCH', `/${id}`, { customer_type: 'vip' })
  const patched = await shown(id)

  const expanded = await migrator.migrateTo(MIGRATION)
  t.error(expanded.error, 'the expand comes again')
  t.same(await formsOf(db, BUSINESS), ['json', 'json', 'json', 'json'], 'old events hold JSON')

  const contracted = await migrator.migrateToLatest()
  t.error(contracted.error, 'and the contract')
  t.same(await snapshotsOf(db, BUSINESS), [true, true, true, true], 'every event has snapshots')
  t.same(
    await formsOf(db, BUSINESS),
    ['snapshots', 'snapshots', 'snapshots', 'snapshots'],
    'and no JSON',
  )
  const read = await feed()
  t.same(read.slice(0, 3), written, 'events that were JSON read as they did')
  t.same(read[3]?.type, 'customer.updated', 'the old writer wrote its event')
  t.same(read[3]?.data, patched, 'with the customer as shown then')

  await call('POST', `/${id}/erase`, { reason: 'The customer asked' })
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

t.test('an event that would not read the same stops the contract', async (t) => {
  const { inject, database } = await build(t)
  const db = database.db
  const business = BUSINESS + 2
  const call = caller(inject, business)
  const id = await createCustomerId(inject, business, { name: 'Akinyi Contract' })
  await call('PATCH', `/${id}`, { customer_type: 'vip' })
  const migrator = migratorFor(db)
  t.error((await migrator.migrateTo(BEFORE_CONTRACT)).error, 'back before the contract')
  // Both events as the old writer left them: JSON, no snapshots.
  await sql`update customer_events set
      data = customer_event_json(customer_snapshot, preferences_snapshot, history_snapshot),
      customer_snapshot = null, preferences_snapshot = null, history_snapshot = null
    where business_id = ${business}`.execute(db)
  const events = async () =>
    (
      await sql`select * from customer_events where business_id = ${business}
        order by id`.execute(db)
    ).rows
  const good = await events()
  const { rows: kept } = await sql<{ json: string }>`select data::text as json
    from customer_events where business_id = ${business} and type = 'customer.updated'`.execute(db)
  const updatedJson = kept[0]?.json ?? ''
  const spoil = (change: RawBuilder<unknown>) =>
    sql`update customer_events set data = ${change}
      where business_id = ${business} and type = 'customer.updated'`.execute(db)

  const spoilt = {
    // a key no snapshot holds: converting would lose it
    'an extra key': sql`data || '{"loyalty_card": "K-1"}'::jsonb`,
    // a value of another JSON type: the feed would show false, not "false"
    'a boolean written as text': sql`jsonb_set(data, '{prefer_sms}', to_jsonb(data ->> 'prefer_sms'))`,
    // a value the snapshot's field refuses: the conversion itself fails
    'a version that is not a whole number': sql`jsonb_set(data, '{version}', '1.5')`,
    // an array PostgreSQL cannot hold (more than six dimensions): a limit, not a data error
    'products nested seven deep': sql`jsonb_set(data, '{preferences,favorite_products}',
      '[[[[[[[1]]]]]]]')`,
    'JSON that is not an object': sql`'"customer.updated"'::jsonb`,
    'neither JSON nor snapshots': sql`null`,
  }
  for (const [kind, change] of Object.entries(spoilt)) {
    await spoil(change)
    const before = await events()
    const refused = await migrator.migrateToLatest()
    t.match(
      String(refused.error),
      /events \d+\/\d+ \(business\/id\) have no snapshots/,
      `${kind}: refused`,
    )
    t.same(
      refused.results
        ?.filter((result) => result.status !== 'NotExecuted')
        .map((result) => [result.migrationName, result.status]),
      [[CONTRACT, 'Error']],
      `${kind}: the contract is what failed`,
    )
    t.same(await events(), before, `${kind}: every event is as it was`)
    await spoil(sql`${updatedJson}::jsonb`)
  }

  t.same(await events(), good, 'the events as the old writer left them')
  t.error((await migrator.migrateToLatest()).error, 'then the contract runs')
  t.same(await formsOf(db, business), ['snapshots', 'snapshots'], 'and converts both')
})

t.test('an erasure scrubs the snapshots of earlier events', async (t) => {
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
