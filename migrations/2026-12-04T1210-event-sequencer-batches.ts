import { sql, type Kysely } from 'kysely'

/**
 * customer_events_sequence planned for what it does, whatever the statistics say: it finds a
 * few committed, unnumbered events through the partial index and numbers each through the
 * primary key, in batches of 5,000 (oldest first, until none is left). Its one statement took
 * its plan from the share of unnumbered events the last ANALYZE saw: after a bulk load (the
 * seed's millions of events, all unnumbered then) PostgreSQL expected millions of rows and
 * joined by scanning the whole table, seconds on every call long after the backlog was numbered
 * (without autovacuum, until the next ANALYZE). A LIMIT alone bounds the estimate but not the
 * choice (on a smaller table 5,000 rows still make a scan the cheaper guess), so the function
 * runs with sequential scans, hash and merge joins off: index scans in a nested loop. What a
 * call numbers is unchanged: every event committed before it, in one transaction.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`drop function customer_events_sequence(bigint)`.execute(db)
  await sql`create function customer_events_sequence(business bigint) returns bigint
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
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop function customer_events_sequence(bigint)`.execute(db)
  await sql`create function customer_events_sequence(business bigint) returns void
    language plpgsql as $$
    begin
      perform pg_advisory_xact_lock(hashtextextended('events:' || business, 0));
      update customer_events e set position = numbered.position
      from (
        select waiting.id, nextval('customer_event_positions') as position
        from (
          select id from customer_events
          where business_id = business and position is null
          order by id
        ) waiting
      ) numbered
      where e.business_id = business and e.id = numbered.id;
    end $$`.execute(db)
}
