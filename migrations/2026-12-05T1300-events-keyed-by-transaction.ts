import { sql, type Kysely, type RawBuilder } from 'kysely'
import {
  createEventWriter,
  up as writerOf20261205T1100,
} from './2026-12-05T1100-event-writer-transaction-notes.js'

/** The kind of event a transaction writes for a customer whose purchase history alone it changed. */
const HISTORY_TYPE = `'purchase_history.updated'`
const HISTORY = sql.raw(HISTORY_TYPE)

/**
 * The customer's event written in this transaction, found by the unique index of its kind: a
 * `purchase_history.updated` event, or any other.
 */
const WRITTEN_BY_INDEX = sql.raw(`select e.id, e.type into written, written_type
          from customer_events e
          where e.business_id = business and e.transaction_id = pg_current_xact_id()
            and e.customer_id = customer and e.type <> ${HISTORY_TYPE};
        if written is null then
          select e.id, e.type into written, written_type
            from customer_events e
            where e.business_id = business and e.customer_id = customer
              and e.transaction_id = pg_current_xact_id()
              and e.type = ${HISTORY_TYPE};
        end if;`)

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
 * customer_events_scrub: `findEarlier` sets `earlier_events` to the ids of the erased customer's
 * other events; their personal values become the erasure's.
 */
async function createScrub(db: Kysely<any>, findEarlier: RawBuilder<unknown>): Promise<void> {
  await sql`create or replace function customer_events_scrub(business bigint, erased_event bigint)
    returns void language plpgsql as $$
    declare
      erased customer_events;
      earlier_events bigint[];
    begin
      select * into erased from customer_events e
        where e.business_id = business and e.id = erased_event;
      ${findEarlier}
      ${SCRUB_SNAPSHOTS}
    end $$`.execute(db)
}

/**
 * A PATCH's, a create's or any other change's event only appends to the outbox's indexes; a
 * sale's event writes the same index entries as before.
 *
 * Since 2026-12-04T1300 one unique index on (business, customer, transaction) kept one event
 * per customer per transaction and let the erasure's scrub find a customer's earlier events. A
 * key that leads with the customer puts every event on a random leaf of that index: at a
 * million customers, a page read, a page dirtied and, after each checkpoint, a full-page image
 * in the WAL per PATCH (bench/results/2026-12-05-issue18-patch-1m-io.md).
 *
 * Now that index is split by the event's kind, each part unique:
 * - events of a change (created, updated, consent changed, merged, erased, ...) are keyed
 *   (business, transaction, customer), as 2026-12-03T1500 had it: transaction ids grow, so the
 *   index appends. The scrub finds them through the customer's change history
 *   (customer_changes_by_customer): the writer types an event from its transaction's change of
 *   the customer, so every such event has one;
 * - `purchase_history.updated` events keep the key by customer, and the scrub finds them by it.
 *   They are what a transaction writes when it changed nothing of the customer but its purchase
 *   history (a sale), so they may have no change to be found by.
 * One index for every event by transaction, beside one of history events by customer, was tried
 * first: every sale's event then writes one more entry, for nothing a sale needs.
 *
 * Measured with pgbench on a million customers (bench/results/2026-12-05-issue18-index-by-kind.md):
 * the WAL the outbox adds to a PATCH fell from about 6.6 kB to 1.9 kB, and its full-page images
 * from 0.81 to 0.17. The CPU it adds (about 0.35-0.39 ms of the machine's) did not measurably
 * change: the pages come from memory here, and most of that cost is the snapshots' reads.
 *
 * One event per customer per transaction is enforced by each index within its kind, and across
 * the two by the writer: it re-types an event in place, never writes a second. The writer is
 * 2026-12-05T1100's (createEventWriter), with its lookup past the notes' limit made in both
 * indexes. The scrub changes what it changed before. `type` becomes NOT NULL (every event has
 * had one since 2026-12-04T1300), so the two indexes' conditions cover every event between them.
 *
 * Like the migrations before it, this one builds its indexes inside its transaction, not
 * `concurrently`: commits that write events wait for the build (seconds on a million customers'
 * four million events here). A larger outbox would want them built beforehand, concurrently.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table customer_events alter column type set not null`.execute(db)
  await sql`create unique index customer_events_one_per_transaction
    on customer_events (business_id, transaction_id, customer_id)
    where type <> ${HISTORY}`.execute(db)
  await sql`create unique index customer_events_history_of_customer
    on customer_events (business_id, customer_id, transaction_id)
    where type = ${HISTORY}`.execute(db)
  await sql`drop index customer_events_of_customer_transaction`.execute(db)
  await createEventWriter(db, WRITTEN_BY_INDEX)

  await createScrub(
    db,
    sql`select coalesce(array_agg(found.id), '{}') into earlier_events from (
          select e.id from customer_changes c
            join customer_events e on e.business_id = c.business_id
              and e.transaction_id = c.transaction_id and e.customer_id = c.customer_id
              and e.type <> ${HISTORY}
            where c.business_id = business and c.customer_id = erased.customer_id
          union
          select e.id from customer_events e
            where e.business_id = business and e.customer_id = erased.customer_id
              and e.type = ${HISTORY}
        ) found
        where found.id <> erased.id;`,
  )
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`create unique index customer_events_of_customer_transaction
    on customer_events (business_id, customer_id, transaction_id)`.execute(db)
  await sql`drop index customer_events_history_of_customer`.execute(db)
  await sql`drop index customer_events_one_per_transaction`.execute(db)
  await sql`alter table customer_events alter column type drop not null`.execute(db)
  await writerOf20261205T1100(db)
  // 2026-12-04T2200's scrub, which found the customer's earlier events by that index.
  await createScrub(
    db,
    sql`select coalesce(array_agg(e.id), '{}') into earlier_events from customer_events e
        where e.business_id = business and e.customer_id = erased.customer_id
          and e.id <> erased.id;`,
  )
}
