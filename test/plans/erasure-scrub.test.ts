import { sql, type Kysely } from 'kysely'
import t from 'tap'
import type { Database } from '../../db/database.js'
import { testDatabase } from '../helper.js'
import { explainAsPrepared, indexesIn, seqScannedRelations } from '../support/explain.js'

/**
 * The erasure's scrub (customer_events_scrub, migration 2026-12-05T1300) finds a customer's
 * earlier events through indexes only: events of a change through the customer's change history
 * (customer_changes_by_customer) and then by their transaction
 * (customer_events_one_per_transaction); purchase-history events by customer
 * (customer_events_history_of_customer). A scan of the business's events would cost an erasure
 * seconds on a large feed. The lookup lives inside the PL/pgSQL function, so this test takes
 * its statement from the function's source and plans it as PL/pgSQL runs it (its variables as
 * parameters), on a feed of many customers.
 */
const BUSINESS = 940
const CUSTOMERS = 3_000
const HISTORY = 'purchase_history.updated'
/** The customer erased: its change's event, its history's event, then its erasure's event. */
const ERASED = 17
/** Past every other row's transaction. */
const ERASURE_TRANSACTION = 10 * CUSTOMERS

t.test('the scrub finds a customer’s events by index, not by scanning the feed', async (t) => {
  const { db } = await testDatabase()
  await db.insertInto('businesses').values({ id: BUSINESS }).execute()
  await db.connection().execute(async (session) => {
    await sql`set session_replication_role = replica`.execute(session)
    try {
      await writeFeed(session)
    } finally {
      await sql`set session_replication_role = origin`.execute(session)
    }
  })
  await sql`analyze customer_changes, customer_events`.execute(db)

  const { rows: source } = await sql<{ body: string }>`select prosrc as body from pg_proc
    where proname = 'customer_events_scrub'`.execute(db)
  const lookup = /select coalesce\(array_agg\(found\.id\)[\s\S]*?(?=;)/.exec(
    source[0]?.body ?? '',
  )?.[0]
  if (!lookup) throw new Error('no lookup of earlier events in customer_events_scrub')
  // As PL/pgSQL runs it: its variables become the statement's parameters.
  const asPrepared = lookup
    .replace(/\binto earlier_events\b/, '')
    .replace(/\berased\.customer_id\b/g, '$2')
    .replace(/\berased\.id\b/g, '$3')
    .replace(/\bbusiness\b/g, '$1')
  t.notMatch(asPrepared, /\berased\b/, 'every variable of the statement is a parameter')

  for (const mode of ['force_custom_plan', 'force_generic_plan'] as const) {
    const plan = await explainAsPrepared(
      db,
      asPrepared,
      ['bigint', 'bigint', 'bigint'],
      [String(BUSINESS), String(ERASED), '0'],
      mode,
    )
    t.same(seqScannedRelations(plan), [], `${mode}: no sequential scan`)
    const used = indexesIn(plan)
    for (const index of [
      'customer_changes_by_customer',
      'customer_events_one_per_transaction',
      'customer_events_history_of_customer',
    ]) {
      t.ok(used.includes(index), `${mode}: through ${index}`, { used })
    }
  }

  // And what it finds: the erased customer's two earlier events, one by each path.
  const { rows } = await sql<{ type: string; id: string }>`select type, id from customer_events
    where business_id = ${BUSINESS} and customer_id = ${ERASED}`.execute(db)
  const idOf = (type: string) => Number(rows.find((row) => row.type === type)?.id)
  const found = await db.connection().execute(async (session) => {
    await sql.raw(`prepare scrub_lookup(bigint, bigint, bigint) as ${asPrepared}`).execute(session)
    try {
      const { rows: answer } = await sql<Record<string, string[]>>`execute scrub_lookup(
        ${sql.lit(BUSINESS)}, ${sql.lit(ERASED)}, ${sql.lit(idOf('customer.erased'))})`.execute(
        session,
      )
      return Object.values(answer[0] ?? {})[0]?.map(Number)
    } finally {
      await sql`deallocate scrub_lookup`.execute(session)
    }
  })
  const ascending = (ids: number[] | undefined) => ids && [...ids].sort((x, y) => x - y)
  t.same(
    ascending(found),
    ascending([idOf('customer.updated'), idOf(HISTORY)]),
    'the erased customer’s two other events, and no one else’s',
  )
})

/**
 * A feed as the outbox leaves it, for planning only: written with triggers off (so without the
 * customers its rows name), for each customer a change and its event in one transaction and a
 * purchase-history event in another; then ERASED's erasure, a change and its event.
 */
async function writeFeed(session: Kysely<Database>): Promise<void> {
  const business = sql.lit(BUSINESS)
  const snapshotOf = (customer: ReturnType<typeof sql.raw> | ReturnType<typeof sql.lit>) =>
    sql`jsonb_populate_record(null::customer_event_customer,
      jsonb_build_object('id', ${customer}::bigint, 'business_id', ${business}::bigint))`
  const g = sql.raw('g')
  await sql`insert into customer_changes (business_id, customer_id, transaction_id, actor,
      action, fields)
    select ${business}, g, (2 * g)::text::xid8, 'system', 'updated', '{}'::jsonb
    from generate_series(1, ${CUSTOMERS}) g`.execute(session)
  await sql`insert into customer_events (business_id, customer_id, transaction_id, type,
      customer_snapshot)
    select ${business}, g, (2 * g)::text::xid8, 'customer.updated', ${snapshotOf(g)}
    from generate_series(1, ${CUSTOMERS}) g
    union all
    select ${business}, g, (2 * g + 1)::text::xid8, ${HISTORY}, ${snapshotOf(g)}
    from generate_series(1, ${CUSTOMERS}) g`.execute(session)
  const erased = sql.lit(ERASED)
  const erasure = sql`${sql.lit(ERASURE_TRANSACTION)}::text::xid8`
  await sql`insert into customer_changes (business_id, customer_id, transaction_id, actor,
      action, fields)
    values (${business}, ${erased}, ${erasure}, 'system', 'erased', '{}'::jsonb)`.execute(session)
  await sql`insert into customer_events (business_id, customer_id, transaction_id, type,
      customer_snapshot)
    values (${business}, ${erased}, ${erasure}, 'customer.erased', ${snapshotOf(erased)})`.execute(
    session,
  )
}
