import { sql, type Kysely } from 'kysely'

/** The erased event's personal values over those of `earlier` (2026-12-04T2200's scrub). */
const SCRUB_SNAPSHOTS = sql.raw(`update customer_events earlier set
          customer_snapshot.name = (erased.customer_snapshot).name,
          customer_snapshot.phone = (erased.customer_snapshot).phone,
          customer_snapshot.email = (erased.customer_snapshot).email,
          customer_snapshot.address = (erased.customer_snapshot).address
        where earlier.business_id = business and earlier.id = any(earlier_events)
          and (earlier.customer_snapshot).id is not null;
      update customer_events earlier set
          preferences_snapshot.best_contact_time = (erased.preferences_snapshot).best_contact_time
        where earlier.business_id = business and earlier.id = any(earlier_events)
          and (earlier.preferences_snapshot).id is not null;
      -- Events written before 2026-12-04T2200 held their data as JSON.
      update customer_events earlier set data = earlier.data
          || jsonb_build_object('name', (erased.customer_snapshot).name,
            'phone', (erased.customer_snapshot).phone, 'email', (erased.customer_snapshot).email,
            'address', (erased.customer_snapshot).address)
          || case when earlier.data -> 'preferences' = 'null'::jsonb then '{}'::jsonb
            else jsonb_build_object('preferences', jsonb_set(earlier.data -> 'preferences',
              '{best_contact_time}',
              coalesce(to_jsonb((erased.preferences_snapshot).best_contact_time),
                'null'::jsonb))) end
        where earlier.business_id = business and earlier.id = any(earlier_events)
          and earlier.data is not null;`)

/**
 * No index of the outbox is keyed by customer for events that a customer's change history can
 * find, so a PATCH's or a create's event only appends to indexes.
 *
 * Since 2026-12-04T1300 one unique index on (business, customer, transaction) kept one event
 * per customer per transaction and let the erasure's scrub find a customer's earlier events. A
 * key that leads with the customer puts every event on a random leaf of that index: at a
 * million customers, a page read, a page dirtied and, after each checkpoint, a full-page image
 * in the WAL per PATCH (bench/results/2026-12-05-issue18-patch-1m-io.md). Since 2026-12-05T1100
 * the writer finds its transaction's events in a note, so only the scrub still needed that key.
 *
 * Now:
 * - the unique index is keyed (business, transaction, customer), as 2026-12-03T1500 had it:
 *   transaction ids grow, so it appends. The writer's lookup past its note's limit uses it;
 * - the scrub finds a customer's events through its change history: every event is of a
 *   transaction that wrote a change of the customer (customer_changes_by_customer, then the
 *   unique index), or else it is typed `purchase_history.updated`, because the writer types an
 *   event that way when its transaction changed nothing of the customer but its history, and
 *   re-types one only from a change. Those history events alone keep an index by customer, a
 *   partial one;
 * - what the scrub changes is unchanged.
 * A sale's event still writes a random leaf (of the partial index); a PATCH's, a create's, a
 * consent's, a merge's and an import's no longer do.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`create unique index customer_events_one_per_transaction
    on customer_events (business_id, transaction_id, customer_id)`.execute(db)
  await sql`create index customer_events_history_of_customer
    on customer_events (business_id, customer_id)
    where type = 'purchase_history.updated'`.execute(db)
  await sql`drop index customer_events_of_customer_transaction`.execute(db)
  await sql`create or replace function customer_events_scrub(business bigint, erased_event bigint)
    returns void language plpgsql as $$
    declare
      erased customer_events;
      earlier_events bigint[];
    begin
      select * into erased from customer_events e
        where e.business_id = business and e.id = erased_event;
      select coalesce(array_agg(found.id), '{}') into earlier_events from (
          select e.id from customer_changes c
            join customer_events e on e.business_id = c.business_id
              and e.transaction_id = c.transaction_id and e.customer_id = c.customer_id
            where c.business_id = business and c.customer_id = erased.customer_id
          union
          select e.id from customer_events e
            where e.business_id = business and e.customer_id = erased.customer_id
              and e.type = 'purchase_history.updated'
        ) found
        where found.id <> erased.id;
      ${SCRUB_SNAPSHOTS}
    end $$`.execute(db)
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`create unique index customer_events_of_customer_transaction
    on customer_events (business_id, customer_id, transaction_id)`.execute(db)
  await sql`drop index customer_events_history_of_customer`.execute(db)
  await sql`drop index customer_events_one_per_transaction`.execute(db)
  // 2026-12-04T2200's scrub, which found the customer's earlier events by that index.
  await sql`create or replace function customer_events_scrub(business bigint, erased_event bigint)
    returns void language plpgsql as $$
    declare
      erased customer_events;
      earlier_events bigint[];
    begin
      select * into erased from customer_events e
        where e.business_id = business and e.id = erased_event;
      select coalesce(array_agg(e.id), '{}') into earlier_events from customer_events e
        where e.business_id = business and e.customer_id = erased.customer_id
          and e.id <> erased.id;
      ${SCRUB_SNAPSHOTS}
    end $$`.execute(db)
}
