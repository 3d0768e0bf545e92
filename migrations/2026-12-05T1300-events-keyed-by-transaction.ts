import { sql, type Kysely, type RawBuilder } from 'kysely'
import { up as writerOf20261205T1100 } from './2026-12-05T1100-event-writer-transaction-notes.js'

/** The kind of event a transaction writes for a customer whose purchase history alone it changed. */
const HISTORY_TYPE = `'purchase_history.updated'`
const HISTORY = sql.raw(HISTORY_TYPE)

/** The length past which a transaction's notes stop growing (2026-12-03T1200, 2026-12-05T1100). */
const NOTE_LIMIT = sql.raw('64 * 24')

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

/** This transaction's change of the customer, found by the change history's index (2026-12-05T1100). */
const CHANGE_BY_INDEX = sql.raw(`select c.action, c.fields into last_action, last_fields
        from customer_changes c
        where c.business_id = business and c.customer_id = customer
          and c.transaction_id = pg_current_xact_id()
        order by c.id desc limit 1;`)

/** The event's type, from the transaction's change of the customer (2026-12-04T1300, as 2026-12-05T1100 has it). */
const EVENT_TYPE = sql.raw(`event_type := case
        when last_action is null then 'purchase_history.updated'
        -- A sale's own effect on the customer (its average spend) is part of the history
        -- change.
        when last_action = 'updated' and history
          and last_fields - 'average_spend' = '{}'::jsonb then 'purchase_history.updated'
        when last_action = 'consent_changed' then 'consent.changed'
        else 'customer.' || last_action end;`)

/** The event with the customer's values at commit, as 2026-12-04T2200 writes it. */
const SNAPSHOT_INSERT = sql.raw(`insert into customer_events (business_id, customer_id, type,
          customer_snapshot, preferences_snapshot, history_snapshot)
        values (business, customer, event_type,
          (select row(c.id, c.business_id, c.name, c.phone, c.email, c.address,
              c.customer_type, c.is_active, c.prefer_sms, c.prefer_email, c.prefer_call,
              c.version, c.merged_into, c.erased_at, c.created_at,
              c.updated_at)::customer_event_customer
            from customers c where c.business_id = business and c.id = customer),
          (select row(p.id, p.customer_id, p.business_id, p.favorite_products,
              p.preferred_payment, p.average_spend, p.best_contact_time, p.do_not_contact,
              p.can_receive_offers, p.can_receive_loyalty, p.created_at,
              p.updated_at)::customer_event_preferences
            from customer_preferences p
            where p.business_id = business and p.customer_id = customer),
          (select row(h.id, h.customer_id, h.business_id, h.total_purchases, h.total_spent,
              h.total_items_bought, h.avg_transaction_value, h.first_purchase_date,
              h.last_purchase_date,
              case when h.last_purchase_date is not null then greatest(0,
                floor(extract(epoch from clock_timestamp() - h.last_purchase_date)
                  / 86400))::integer end,
              h.is_repeat_customer, h.repeat_frequency, h.customer_lifetime_value,
              h.created_at, h.updated_at)::customer_event_history
            from customer_purchase_history h
            where h.business_id = business and h.customer_id = customer))
        returning id into written;`)

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
 * 2026-12-05T1100's, with its lookup past the notes' limit made in both indexes. The scrub
 * changes what it changed before. `type` becomes NOT NULL (every event has had one since
 * 2026-12-04T1300), so the two indexes' conditions cover every event between them.
 *
 * Like the migrations before it, this one builds its indexes inside its transaction, not
 * `concurrently`: commits that write events wait for the build (seconds on a million customers'
 * four million events here). A larger outbox would want them built beforehand, concurrently.
 */
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

export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table customer_events alter column type set not null`.execute(db)
  await sql`create unique index customer_events_one_per_transaction
    on customer_events (business_id, transaction_id, customer_id)
    where type <> ${HISTORY}`.execute(db)
  await sql`create unique index customer_events_history_of_customer
    on customer_events (business_id, customer_id, transaction_id)
    where type = ${HISTORY}`.execute(db)
  await sql`drop index customer_events_of_customer_transaction`.execute(db)
  await sql`create or replace function customer_event_write() returns trigger
    language plpgsql set plan_cache_mode = force_generic_plan as $$
    declare
      business constant bigint := new.business_id;
      customer constant bigint := new.customer_id;
      history constant boolean := tg_table_name = 'customer_purchase_history';
      entry constant text := ' ' || business || ':' || customer || '=';
      events_noted constant text := coalesce(current_setting('payme.events', true), '');
      changes_noted constant text := coalesce(current_setting('payme.changes', true), '');
      event_noted_at integer;
      change_noted_at integer;
      change bigint;
      written bigint;
      written_type text;
      last_action text;
      last_fields jsonb;
      event_type text;
    begin
      event_noted_at := position(entry in events_noted);
      if event_noted_at > 0 then
        written := split_part(substr(events_noted, event_noted_at + length(entry)), ' ', 1)
          ::bigint;
        -- Only a history write can re-type it: that one reads its type, by its key.
        if history then
          select e.type into written_type from customer_events e
            where e.business_id = business and e.id = written;
        end if;
      elsif length(events_noted) > ${NOTE_LIMIT} then
        ${WRITTEN_BY_INDEX}
      end if;
      -- Written already: only a history write can change its type, and only that of an update.
      if written is not null and (not history or written_type <> 'customer.updated') then
        return null;
      end if;
      change_noted_at := position(entry in changes_noted);
      if change_noted_at > 0 then
        change := split_part(substr(changes_noted, change_noted_at + length(entry)), ' ', 1)
          ::bigint;
        select c.action, c.fields into last_action, last_fields from customer_changes c
          where c.business_id = business and c.id = change;
      elsif length(changes_noted) > ${NOTE_LIMIT} then
        ${CHANGE_BY_INDEX}
      end if;
      ${EVENT_TYPE}
      if written is not null then
        if event_type <> written_type then
          update customer_events set type = event_type
            where business_id = business and id = written;
        end if;
        return null;
      end if;
      ${SNAPSHOT_INSERT}
      -- Only ever appended to, so a note past its limit stays past it.
      if length(events_noted) <= ${NOTE_LIMIT} then
        perform set_config('payme.events', events_noted || entry || written, true);
      end if;
      if event_type = 'customer.erased' then
        perform customer_events_scrub(business, written);
      end if;
      return null;
    end $$`.execute(db)

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
