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
    -- No event unnumbered after the last run has a transaction older than this.
    unnumbered_from xid8 not null
  )`.execute(db)
  await sql`create index customer_events_unnumbered
    on customer_events (business_id, transaction_id) where position is null`.execute(db)
  await sql`drop index customer_events_to_sequence`.execute(db)

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
      select s.unnumbered_from into scan_from from customer_event_sequencing s
        where s.business_id = business;
      update customer_events e set position = next.position
      from (
        select waiting.id, nextval('customer_event_positions') as position
        from (
          select u.id from customer_events u
          where u.business_id = business and u.position is null
            and u.transaction_id >= coalesce(scan_from, '0'::xid8)
          offset 0
        ) waiting
        order by waiting.id
      ) next
      where e.business_id = business and e.id = next.id;
      get diagnostics numbered = row_count;
      -- Only a run that numbered something moves the start; an older start is merely slower.
      if numbered > 0 then
        insert into customer_event_sequencing as s (business_id, unnumbered_from)
          values (business, oldest_running)
          on conflict (business_id) do update set unnumbered_from = excluded.unnumbered_from
          where s.unnumbered_from < excluded.unnumbered_from;
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
  await sql`drop table customer_event_sequencing`.execute(db)
}
