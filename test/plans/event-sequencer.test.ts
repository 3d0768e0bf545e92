import { sql } from 'kysely'
import t from 'tap'
import { sequenceEvents } from '../../db/customer-events.js'
import { testDatabase } from '../helper.js'
import { seqScannedRelations, indexesIn } from '../support/explain.js'

/**
 * The feed's sequencer (customer_events_sequence, migration 2026-12-04T1210) after a bulk load:
 * its statistics then say every event is unnumbered. Its one unbounded statement was planned for
 * that many rows — a scan of the whole table on every later call, seconds on millions of events,
 * until the next ANALYZE. Numbering in batches bounds the estimate: the plan reads the partial
 * index and updates by primary key, whatever the statistics say.
 */
const BUSINESS = 930
const EVENTS = 30_000
const BATCH = 5000

t.test('the sequencer numbers in bounded batches, planned without a table scan', async (t) => {
  const { db } = await testDatabase()
  await db.insertInto('businesses').values({ id: BUSINESS }).execute()
  // Completed events as the outbox leaves them, written without their triggers (a bulk load).
  await db.connection().execute(async (session) => {
    await sql`set session_replication_role = replica`.execute(session)
    await sql`insert into customer_events (business_id, customer_id, type, data)
      select ${BUSINESS}, g, 'customer.updated', jsonb_build_object('n', g)
      from generate_series(1, ${EVENTS}) g`.execute(session)
    await sql`set session_replication_role = origin`.execute(session)
  })
  await sql`analyze customer_events`.execute(db)

  const { rows: source } = await sql<{ body: string; settings: string[] | null }>`
    select prosrc as body, proconfig as settings from pg_proc
    where proname = 'customer_events_sequence'`.execute(db)
  // The planner settings the function runs with (its SET clauses), applied to the probe too.
  const settings = (source[0]?.settings ?? []).map((setting) => setting.split('='))
  t.same(
    settings.map(([name]) => name).sort(),
    ['enable_hashjoin', 'enable_mergejoin', 'enable_seqscan'],
    'the function plans with index scans in nested loops',
  )
  const statement = /update customer_events e set position[\s\S]*?(?=;)/.exec(
    source[0]?.body ?? '',
  )?.[0]
  if (!statement) throw new Error('no numbering statement in customer_events_sequence')
  // As PL/pgSQL runs it: its variables are the statement's parameters.
  const asPrepared = statement.replace(/\bbusiness\b/g, '$1').replace(/\bbatch\b/g, '$2')
  t.match(asPrepared, /limit \$2/, 'the statement takes at most a batch')

  const explain = (mode: 'force_custom_plan' | 'force_generic_plan', withSettings = true) =>
    db.connection().execute(async (session) => {
      await sql`begin`.execute(session)
      try {
        await sql.raw(`set local plan_cache_mode = ${mode}`).execute(session)
        for (const [name, value] of withSettings ? settings : []) {
          await sql`select set_config(${name}, ${value}, true)`.execute(session)
        }
        await sql.raw(`prepare numbering_probe(bigint, integer) as ${asPrepared}`).execute(session)
        const { rows } = await sql<{ 'QUERY PLAN': unknown }>`explain (format json)
          execute numbering_probe(${sql.lit(BUSINESS)}, ${sql.lit(BATCH)})`.execute(session)
        const raw = rows[0]?.['QUERY PLAN']
        return typeof raw === 'string' ? (JSON.parse(raw) as unknown) : raw
      } finally {
        await sql`rollback`.execute(session)
        await sql`deallocate numbering_probe`.execute(session)
      }
    })
  // The fixture is the case: without the function's settings, the planner scans the table.
  t.same(
    seqScannedRelations(await explain('force_custom_plan', false)),
    ['customer_events'],
    'planned with the default settings, the statement scans the table',
  )
  for (const mode of ['force_custom_plan', 'force_generic_plan'] as const) {
    const plan = await explain(mode)
    t.same(seqScannedRelations(plan), [], `${mode}: no sequential scan with stale statistics`)
    t.ok(
      indexesIn(plan).includes('customer_events_to_sequence'),
      `${mode}: unnumbered events found through the partial index`,
      { used: indexesIn(plan) },
    )
  }

  // And what it numbers: every committed event, across batches, in id order.
  await sequenceEvents(db, BUSINESS)
  const { rows } = await sql<{
    unnumbered: number
    out_of_order: number
    distinct_positions: number
  }>`
    select count(*) filter (where position is null)::int as unnumbered,
      count(distinct position)::int as distinct_positions,
      (select count(*)::int from (select position < lag(position) over (order by id) as behind
        from customer_events where business_id = ${BUSINESS}) ordered where behind) as out_of_order
    from customer_events where business_id = ${BUSINESS}`.execute(db)
  t.same(
    rows[0],
    { unnumbered: 0, distinct_positions: EVENTS, out_of_order: 0 },
    `all ${EVENTS} events numbered once, in id order, over ${EVENTS / BATCH} batches`,
  )
})
