import { sql, type Kysely, type RawBuilder } from 'kysely'
import t from 'tap'
import { sequenceEvents } from '../../db/customer-events.js'
import type { Database } from '../../db/database.js'
import { onPostgres, secondConnection, testDatabase } from '../helper.js'
import { businessesToNumber } from '../../db/webhook-endpoints.js'
import {
  explainAsPrepared,
  explainFirstQuery,
  indexesIn,
  planNodes,
  seqScannedRelations,
} from '../support/explain.js'

/**
 * The feed's sequencer (customer_events_sequence, migrations 2026-12-04T1210 and
 * 2026-12-05T0100) after a bulk load: its statistics then say every event is unnumbered. Its
 * statement was once planned for that many rows — a scan of the whole table on every later
 * call, seconds on millions of events, until the next ANALYZE. Its settings (index scans in
 * nested loops) and the fenced subquery keep the plan on the partial index of unnumbered events
 * whatever the statistics say. And each run starts that index where unnumbered events can still
 * be, so the entries of the events it numbered before (dead until VACUUM) are not read again.
 */
const BUSINESS = 930
const EVENTS = 30_000

/** A customer snapshot with only its keys: all the sequencer's tests need. */
const snapshotOf = (business: number, customer: number | RawBuilder<number>) =>
  sql`jsonb_populate_record(null::customer_event_customer,
    jsonb_build_object('id', ${customer}::bigint, 'business_id', ${business}::bigint))`

/** An event committed as the outbox leaves it (written directly: no trigger needed here). */
async function addEvent(db: Kysely<Database>, business: number, customer = 1): Promise<number> {
  const { rows } = await sql<{ id: number }>`insert into customer_events
    (business_id, customer_id, type, customer_snapshot)
    values (${business}, ${customer}, 'customer.updated', ${snapshotOf(business, customer)})
    returning id`.execute(db)
  return rows[0]?.id ?? 0
}

async function positionOf(db: Kysely<Database>, business: number, id: number) {
  const { rows } = await sql<{ position: number | null }>`select position from customer_events
    where business_id = ${business} and id = ${id}`.execute(db)
  return rows[0]?.position ?? null
}

t.test(
  'the sequencer numbers through the partial index, planned without a table scan',
  async (t) => {
    const { db, dialect } = await testDatabase()
    await db.insertInto('businesses').values({ id: BUSINESS }).execute()
    // Completed events as the outbox leaves them, written without their triggers (a bulk load).
    await db.connection().execute(async (session) => {
      await sql`set session_replication_role = replica`.execute(session)
      await sql`insert into customer_events (business_id, customer_id, type, customer_snapshot)
      select ${BUSINESS}, g, 'customer.updated', ${snapshotOf(BUSINESS, sql`g`)}
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
    const asPrepared = statement.replace(/\bbusiness\b/g, '$1').replace(/\bscan_from\b/g, '$2')
    t.match(asPrepared, /transaction_id >= \$2/, 'the statement starts where the last run left')

    const explain = (mode: 'force_custom_plan' | 'force_generic_plan', withSettings = true) =>
      explainAsPrepared(
        db,
        asPrepared,
        ['bigint', 'xid8'],
        [String(BUSINESS), "'0'"],
        mode,
        withSettings ? settings : [],
      )
    // The fixture is the case: without the function's settings, the planner scans the table.
    const unset = seqScannedRelations(await explain('force_custom_plan', false))
    t.ok(
      unset.includes('customer_events'),
      'planned with the default settings, the statement scans the table',
      { scanned: unset },
    )
    for (const mode of ['force_custom_plan', 'force_generic_plan'] as const) {
      const plan = await explain(mode)
      t.same(seqScannedRelations(plan), [], `${mode}: no sequential scan with stale statistics`)
      t.ok(
        indexesIn(plan).includes('customer_events_unnumbered'),
        `${mode}: unnumbered events found through the partial index`,
        { used: indexesIn(plan) },
      )
    }

    // And what it numbers: every committed event, in id order.
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
      `all ${EVENTS} events numbered once, in id order`,
    )

    // The next run, with nothing to number, reads a few pages: not the 30,000 entries (dead until
    // VACUUM) the partial index still holds below where it starts. Measured on one connection,
    // after a first call there has compiled and planned the function.
    const buffersOf = (statement: ReturnType<typeof sql>) =>
      db.connection().execute(async (session) => {
        await statement.execute(session)
        const { rows: explained } = await sql<{ 'QUERY PLAN': unknown }>`explain (analyze,
          buffers, format json) ${statement}`.execute(session)
        const raw = explained[0]?.['QUERY PLAN']
        const [root] = (typeof raw === 'string' ? JSON.parse(raw) : raw) as {
          Plan: { 'Shared Hit Blocks': number; 'Shared Read Blocks': number }
        }[]
        return (root?.Plan['Shared Hit Blocks'] ?? 0) + (root?.Plan['Shared Read Blocks'] ?? 0)
      })
    const run = sql`select customer_events_sequence(${BUSINESS}::bigint)`
    const nextRun = await buffersOf(run)
    // The same run without the recorded start (as before 2026-12-05T0100): the whole index.
    await sql`delete from customer_event_sequencing where business_id = ${BUSINESS}`.execute(db)
    const fromTheStart = await buffersOf(run)
    t.ok(nextRun <= 20, `the next run: ${nextRun} pages`)
    t.ok(
      fromTheStart >= 5 * nextRun && fromTheStart >= 50,
      `without its start, the same run: ${fromTheStart} pages`,
    )

    await addEvent(db, BUSINESS)
    await sequenceEvents(db, BUSINESS)

    // The delivery loop's search for businesses to number starts the index there too.
    await db
      .insertInto('webhook_endpoints')
      .values({
        business_id: BUSINESS,
        url: 'https://example.com/hook',
        events: ['customer.updated'],
        secret: 'whsec_plan',
      })
      .execute()
    const { plan: search } = await explainFirstQuery(dialect, (db) => businessesToNumber(db))
    const probes = planNodes(search).filter(
      (node) => node['Index Name'] === 'customer_events_unnumbered',
    )
    t.ok(
      probes.some((node) => String(node['Index Cond']).includes('transaction_id >=')),
      'businessesToNumber probes the partial index from the start, per business',
      { probes },
    )

    // A start from another cluster (a restore, a logical copy, a shard move) can lie above the
    // transaction ids this one has issued; trusted, it would leave every event below it
    // unnumbered. It counts as none, whether it is above them or only names another cluster.
    for (const [copied, where] of [
      [sql`unnumbered_from = '999999999999'`, 'above the ids issued here'],
      [sql`system_identifier = system_identifier # 1`, 'recorded by another cluster'],
    ] as const) {
      await sql`update customer_event_sequencing set ${copied}
        where business_id = ${BUSINESS}`.execute(db)
      const after = await addEvent(db, BUSINESS)
      t.same(await businessesToNumber(db), [BUSINESS], `${where}: the business is found to number`)
      await sequenceEvents(db, BUSINESS)
      t.ok((await positionOf(db, BUSINESS, after)) !== null, `${where}: its new event is numbered`)
      const { rows: replaced } = await sql<{ ours: boolean }>`
        select unnumbered_from <= pg_snapshot_xmax(pg_current_snapshot())
          and system_identifier = (select system_identifier from pg_control_system()) as ours
        from customer_event_sequencing where business_id = ${BUSINESS}`.execute(db)
      t.same(replaced, [{ ours: true }], `${where}: the copied start is replaced`)
    }
  },
)

t.test(
  'an event whose transaction began before a run and commits after it is numbered next',
  async (t) => {
    if (!onPostgres()) {
      t.pass('embedded: one connection, so no transaction is open while another numbers')
      return
    }
    const { db } = await testDatabase()
    const business = 931
    await db.insertInto('businesses').values({ id: business }).execute()
    const late = await secondConnection(2)
    t.teardown(() => late.close())

    await late.db.connection().execute(async (session) => {
      await sql`begin`.execute(session)
      // Its transaction id now, its event later: older than the runs below begin with.
      await sql`select pg_current_xact_id()`.execute(session)
      const early = await addEvent(db, business, 1)
      await sequenceEvents(db, business)
      t.ok(
        (await positionOf(db, business, early)) !== null,
        'an event committed meanwhile is numbered',
      )
      const { rows: started } = await sql<{ from_late: boolean }>`
      select s.unnumbered_from <= pg_current_xact_id() as from_late
      from customer_event_sequencing s where s.business_id = ${business}`.execute(session)
      t.same(
        started,
        [{ from_late: true }],
        'the next run starts at or before the open transaction',
      )
      const lateEvent = await addEvent(session, business, 2)
      await sql`commit`.execute(session)
      await sequenceEvents(db, business)
      const [earlyAt, lateAt] = [
        await positionOf(db, business, early),
        await positionOf(db, business, lateEvent),
      ]
      t.ok(
        lateAt !== null && earlyAt !== null && lateAt > earlyAt,
        'the late event is numbered after it',
        {
          earlyAt,
          lateAt,
        },
      )
    })
  },
)
