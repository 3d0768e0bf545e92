import { sql, type Kysely } from 'kysely'

/**
 * The feed's sequencer reads only where unnumbered events can still be.
 *
 * It found the business's unnumbered events through a partial index (`position is null`),
 * walked from its start. Numbering an event leaves its entry there, dead, until VACUUM removes
 * it, so every run walked every event numbered since the last VACUUM: 490 pages for a run with
 * nothing to number after 30,000 events, against 5 now (test/plans/event-sequencer.test.ts),
 * and a cost per delivery round that grows until VACUUM comes
 * (bench/results/2026-12-05-issue18-sequencer.md).
 *
 * Now the partial index is ordered by transaction, and each run records, per business, the
 * oldest transaction still running when it began (`pg_snapshot_xmin`), taken before any of
 * its statements' snapshots:
 * - a transaction older than that had finished, so the run saw its events and numbered them;
 * - every event the run did not see belongs to a transaction at or after it.
 * The next run therefore starts its scan there, and the dead entries below go unread.
 *
 * What a run numbers is unchanged: every event committed before it, in id order. The writer
 * allocates ids at commit, and nextval runs after the sort. A long-running transaction holds
 * the start at itself: the runs meanwhile read the entries numbered since it began.
 *
 * One statement numbers them all. Batches were there to bound the estimate after a bulk load;
 * the function's settings (index scans in nested loops) already fix the plan's shape, and the
 * fenced subquery (`offset 0`) takes the partial index whatever the statistics say, as
 * test/plans/event-sequencer.test.ts checks.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`create table customer_event_sequencing (
    business_id bigint primary key references businesses (id),
    -- No event unnumbered after the last run has a transaction older than this
    unnumbered_from xid8 not null,
    -- in the cluster that issued it (pg_control_system()).
    system_identifier bigint not null
  )`.execute(db)
  await sql`create index customer_events_unnumbered
    on customer_events (business_id, transaction_id) where position is null`.execute(db)
  await sql`drop index customer_events_to_sequence`.execute(db)

  // Where a run starts, for the sequencer and for the delivery loop's search for businesses to
  // number alike. Transaction ids count up within one cluster only: a start copied from another
  // (a restore, a logical copy, a shard move) could lie above ids this cluster has still to
  // issue, and trusting it would leave the events of those transactions unnumbered for good.
  // So a start counts only in the cluster that recorded it, and never above the ids issued so
  // far; otherwise a run starts from the beginning, and the next that numbers something
  // records a start of this cluster.
  await sql`create function customer_events_unnumbered_from(business bigint) returns xid8
    language sql stable as $$
      select coalesce((select s.unnumbered_from from customer_event_sequencing s
        where s.business_id = business
          and s.system_identifier = (select system_identifier from pg_control_system())
          and s.unnumbered_from <= pg_snapshot_xmax(pg_current_snapshot())), '0'::xid8)
    $$`.execute(db)

  // The one writer of a start: `oldest_running` taken before the numbering it follows, in this
  // cluster. Used by the sequencer and by the seed's set-based numbering of what it loads.
  await sql`create function customer_events_start_at(business bigint, oldest_running xid8)
    returns void language sql as $$
      insert into customer_event_sequencing as s (business_id, unnumbered_from, system_identifier)
        values (business, oldest_running, (select system_identifier from pg_control_system()))
        on conflict (business_id) do update set unnumbered_from = excluded.unnumbered_from,
          system_identifier = excluded.system_identifier
    $$`.execute(db)

  await sql`create or replace function customer_events_sequence(business bigint) returns bigint
    language plpgsql
    set enable_seqscan = off set enable_hashjoin = off set enable_mergejoin = off as $$
    declare
      oldest_running xid8;
      scan_from xid8;
      numbered bigint;
    begin
      perform pg_advisory_xact_lock(hashtextextended('events:' || business, 0));
      -- A fresh snapshot, older than the numbering statement's.
      oldest_running := pg_snapshot_xmin(pg_current_snapshot());
      scan_from := customer_events_unnumbered_from(business);
      update customer_events e set position = next.position
      from (
        select waiting.id, nextval('customer_event_positions') as position
        from (
          select u.id from customer_events u
          where u.business_id = business and u.position is null
            and u.transaction_id >= scan_from
          offset 0
        ) waiting
        order by waiting.id
      ) next
      where e.business_id = business and e.id = next.id;
      get diagnostics numbered = row_count;
      -- Only a run that numbered something moves the start; an older start is merely slower.
      -- Runs take turns (the lock), so each one's start is at least its predecessor's, except
      -- after a copied start, which this replaces.
      if numbered > 0 then
        perform customer_events_start_at(business, oldest_running);
      end if;
      return numbered;
    end $$`.execute(db)
}

export async function down(db: Kysely<any>): Promise<void> {
  // As 2026-12-04T1210 left it.
  await sql`create or replace function customer_events_sequence(business bigint) returns bigint
    language plpgsql
    set enable_seqscan = off set enable_hashjoin = off set enable_mergejoin = off as $$
    declare
      batch constant integer := 5000;
      numbered integer;
      total bigint := 0;
    begin
      perform pg_advisory_xact_lock(hashtextextended('events:' || business, 0));
      loop
        update customer_events e set position = next.position
        from (
          select waiting.id, nextval('customer_event_positions') as position
          from (
            select id from customer_events
            where business_id = business and position is null
            order by id limit batch
          ) waiting
        ) next
        where e.business_id = business and e.id = next.id;
        get diagnostics numbered = row_count;
        total := total + numbered;
        exit when numbered < batch;
      end loop;
      return total;
    end $$`.execute(db)
  await sql`create index customer_events_to_sequence
    on customer_events (business_id, id) where position is null`.execute(db)
  await sql`drop index customer_events_unnumbered`.execute(db)
  await sql`drop function customer_events_start_at(bigint, xid8)`.execute(db)
  await sql`drop function customer_events_unnumbered_from(bigint)`.execute(db)
  await sql`drop table customer_event_sequencing`.execute(db)
}
