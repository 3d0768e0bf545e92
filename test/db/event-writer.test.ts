import { sql } from 'kysely'
import t from 'tap'
import type { Executor } from '../../db/executor.js'
import type { SaleEvent } from '../../generated/schemas/SaleEvent.js'
import { recordSaleEvent } from '../../services/sales-feed.js'
import { authFor, fileServer, onPostgres, type TestServer } from '../helper.js'
import { rowCounters } from '../support/row-counters.js'

const BUSINESS = 961
const LONG_HISTORY = 5_000
/** More customers in one statement than either of the transaction's notes keeps. */
const BULK = 200
/** The length past which a note stops growing (migrations 2026-12-03T1200, 2026-12-05T1100). */
const NOTE_LIMIT = 64 * 24

/** The tables the outbox's writer reads to decide an event (migration 2026-12-05T1100). */
const TABLES = ['customer_changes', 'customer_events'] as const

const completion = (customerId: number, saleId: string): SaleEvent => ({
  id: `writer-${saleId}`,
  type: 'sale.completed',
  created_at: new Date().toISOString(),
  data: {
    sale_id: saleId,
    business_id: BUSINESS,
    customer_id: customerId,
    total_amount: '10.00',
    items_count: 1,
    payment_method: 'cash',
    completed_at: '2026-06-01T12:00:00.000Z',
  },
})

interface WrittenEvent {
  customer_id: number
  type: string
}

t.test("the outbox's writer decides an event without reading the customer's past", async (t) => {
  const { inject, database } = await fileServer(t)
  const { db } = database
  t.comment(onPostgres() ? 'PostgreSQL' : 'PGlite')

  const customers: Record<'short' | 'long', number> = { short: 0, long: 0 }
  for (const [name, changes] of [
    ['short', 1],
    ['long', LONG_HISTORY],
  ] as const) {
    const created = await inject({
      method: 'POST',
      url: `/api/customers/${BUSINESS}`,
      headers: authFor(BUSINESS),
      payload: { name: `Changed ${changes} times` },
    })
    t.equal(created.statusCode, 201, `customer with ${changes} changes created`)
    const customerId = created.json().customer.id as number
    customers[name] = customerId
    // A long change history, as years of edits would leave it, written directly (their events
    // are not what is measured: the triggers stay off for this load alone).
    await db.transaction().execute(async (trx) => {
      await sql`set local session_replication_role = replica`.execute(trx)
      await sql`insert into customer_changes (business_id, customer_id, transaction_id, actor,
          action, fields)
        select ${BUSINESS}::bigint, ${customerId}::bigint, '1'::xid8, 'test', 'updated',
          '{"address": {"from": null, "to": "Moi Avenue"}}'::jsonb
        from generate_series(2, ${changes}::int)`.execute(trx)
    })
    // A first sale of 10.00: the average spend moves from 0, so the second one below does not.
    t.equal(
      (await recordSaleEvent(db, completion(customerId, `first-${name}`))).status,
      'processed',
    )
  }

  const reads: Record<string, Record<string, number>> = {}
  for (const name of ['short', 'long'] as const) {
    const customerId = customers[name]
    // A sale that leaves the average spend as it was: a history write and no change row. The
    // writer runs at commit; `set constraints all immediate` runs it inside the measured span.
    reads[name] = await db.transaction().execute(async (trx) => {
      const before = await rowCounters(trx, TABLES, 'read')
      const outcome = await recordSaleEvent(trx, completion(customerId, `second-${name}`))
      t.equal(outcome.status, 'processed', `${name}: the sale is processed`)
      await sql`set constraints all immediate`.execute(trx)
      const after = await rowCounters(trx, TABLES, 'read')
      return Object.fromEntries(
        TABLES.map((table) => [table, (after[table] ?? 0) - (before[table] ?? 0)]),
      )
    })
  }
  t.comment(JSON.stringify(reads))
  t.same(reads.long, reads.short, 'the same rows read for 5,000 earlier changes as for 1')
  t.same(reads.long, { customer_changes: 0, customer_events: 0 }, 'no change or event read')

  const { rows: written } = await sql<WrittenEvent>`select customer_id::int, type
    from customer_events where business_id = ${BUSINESS} order by id`.execute(db)
  t.same(
    written.filter((event) => event.type === 'purchase_history.updated'),
    [customers.short, customers.long, customers.short, customers.long].map((customerId) => ({
      customer_id: customerId,
      type: 'purchase_history.updated',
    })),
    'each sale wrote one purchase_history.updated event',
  )
})

/** The business's newest event id so far ('0' before the first). */
async function newestEventId(db: Executor): Promise<string> {
  const { rows } = await sql<{ id: string }>`select coalesce(max(id), 0)::text as id
    from customer_events where business_id = ${BUSINESS}`.execute(db)
  return rows[0]?.id ?? '0'
}

/** The business's events after `id`, by customer. */
async function eventsAfter(db: Executor, id: string): Promise<WrittenEvent[]> {
  const { rows } = await sql<WrittenEvent>`select customer_id::int, type from customer_events
    where business_id = ${BUSINESS} and id > ${id}::bigint order by customer_id`.execute(db)
  return rows
}

/** BULK customers, created through the API one by one. */
async function createBulk(inject: TestServer['inject']): Promise<number[]> {
  const ids: number[] = []
  for (let n = 0; n < BULK; n++) {
    const created = await inject({
      method: 'POST',
      url: `/api/customers/${BUSINESS}`,
      headers: authFor(BUSINESS),
      payload: { name: `Bulk ${n}` },
    })
    ids.push(created.json().customer.id as number)
  }
  return ids
}

t.test('one statement that changes more customers than the notes keep', async (t) => {
  const { inject, database } = await fileServer(t)
  const { db } = database
  const ids = await createBulk(inject)
  const lastCustomer = ids.at(-1) ?? 0
  const last = await newestEventId(db)

  // Each customer's type, their events written (at once, not at commit), then the last
  // customer's history, in one transaction. Neither note holds the last customer: the writer
  // finds its event and its change by their indexes, adds no event, and keeps its type (with no
  // change found it would re-type it purchase_history.updated).
  const notes = await db.transaction().execute(async (trx) => {
    await sql`select set_config('payme.actor', 'test', true)`.execute(trx)
    await sql`update customers set customer_type = 'vip'
      where business_id = ${BUSINESS} and id = any(${ids}::bigint[])`.execute(trx)
    await sql`set constraints all immediate`.execute(trx)
    await sql`update customer_purchase_history set updated_at = now()
      where business_id = ${BUSINESS} and customer_id = ${lastCustomer}`.execute(trx)
    const { rows } = await sql<{ events: number; changes: number }>`select
        length(current_setting('payme.events')) as events,
        length(current_setting('payme.changes')) as changes`.execute(trx)
    return rows[0]
  })
  t.ok((notes?.events ?? 0) > NOTE_LIMIT, `the events' note is past its limit`)
  t.ok((notes?.changes ?? 0) > NOTE_LIMIT, `the changes' note is past its limit`)

  const events = await eventsAfter(db, last)
  t.same(
    events,
    ids.map((customerId) => ({ customer_id: customerId, type: 'customer.updated' })),
    `one customer.updated event for each of the ${BULK} customers, none twice`,
  )
})

t.test('past the notes, a history event is found among the history events', async (t) => {
  const { inject, database } = await fileServer(t)
  const { db } = database
  const ids = await createBulk(inject)
  const lastCustomer = ids.at(-1) ?? 0
  const last = await newestEventId(db)

  // Every customer's history written, their purchase_history.updated events written at once,
  // then a change of the last customer, in one transaction. The events' note does not hold the
  // last customer: the writer finds its event in the index of history events (migration
  // 2026-12-05T1300) and adds none; one of another kind would pass the other index.
  const noted = await db.transaction().execute(async (trx) => {
    await sql`select set_config('payme.actor', 'test', true)`.execute(trx)
    await sql`update customer_purchase_history set updated_at = now()
      where business_id = ${BUSINESS} and customer_id = any(${ids}::bigint[])`.execute(trx)
    await sql`set constraints all immediate`.execute(trx)
    await sql`update customers set customer_type = 'vip'
      where business_id = ${BUSINESS} and id = ${lastCustomer}`.execute(trx)
    const { rows } = await sql<{ events: string }>`select
        current_setting('payme.events') as events`.execute(trx)
    return rows[0]?.events ?? ''
  })
  t.ok(noted.length > NOTE_LIMIT, `the events' note is past its limit`)
  t.notOk(noted.includes(` ${BUSINESS}:${lastCustomer}=`), 'and does not hold the last customer')

  const events = await eventsAfter(db, last)
  t.same(
    events,
    ids.map((customerId) => ({ customer_id: customerId, type: 'purchase_history.updated' })),
    `one purchase_history.updated event for each of the ${BULK} customers, none twice`,
  )
})

t.test('a savepoint rolled back takes its event and its note with it', async (t) => {
  const { inject, database } = await fileServer(t)
  const { db } = database
  const created = await inject({
    method: 'POST',
    url: `/api/customers/${BUSINESS}`,
    headers: authFor(BUSINESS),
    payload: { name: 'Wanjiru Savepoint' },
  })
  const customerId = created.json().customer.id as number
  const last = await newestEventId(db)

  await db.transaction().execute(async (trx) => {
    await sql`select set_config('payme.actor', 'test', true)`.execute(trx)
    await sql`savepoint attempt`.execute(trx)
    await sql`update customers set customer_type = 'vip'
      where business_id = ${BUSINESS} and id = ${customerId}`.execute(trx)
    // The event is written now, inside the savepoint, and noted.
    await sql`set constraints all immediate`.execute(trx)
    await sql`rollback to savepoint attempt`.execute(trx)
    await sql`set constraints all deferred`.execute(trx)
    await sql`update customers set customer_type = 'wholesale'
      where business_id = ${BUSINESS} and id = ${customerId}`.execute(trx)
  })

  const { rows: events } = await sql<{ type: string; customer_type: string }>`select type,
      (customer_snapshot).customer_type as customer_type
    from customer_events where business_id = ${BUSINESS} and id > ${last}::bigint
    order by id`.execute(db)
  t.same(
    events,
    [{ type: 'customer.updated', customer_type: 'wholesale' }],
    'one event, of the change that stayed',
  )
})
