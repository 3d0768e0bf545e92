import { sql, type Kysely, type RawBuilder } from 'kysely'

/** The customer's event written in this transaction, found by its index. */
const WRITTEN_BY_INDEX = sql.raw(`select e.id, e.type into written, written_type
        from customer_events e
        where e.business_id = business and e.transaction_id = pg_current_xact_id()
          and e.customer_id = customer;`)

/** This transaction's change of the customer, found by the change history's index. */
const CHANGE_BY_INDEX = sql.raw(`select c.action, c.fields into last_action, last_fields
        from customer_changes c
        where c.business_id = business and c.customer_id = customer
          and c.transaction_id = pg_current_xact_id()
        order by c.id desc limit 1;`)

/** The event's type, from the transaction's change of the customer (2026-12-04T1300). */
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

/** The event written already: re-typed if the change now says otherwise, and nothing more. */
const RETYPE_OR_RETURN = sql.raw(`if written is not null then
        if event_type <> written_type then
          update customer_events set type = event_type
            where business_id = business and id = written;
        end if;
        return null;
      end if;`)

/** The length past which a transaction's notes stop growing (as payme.changes, 2026-12-03T1200). */
const NOTE_LIMIT = sql.raw('64 * 24')

/**
 * The outbox's writer (customer_event_write, 2026-12-04T2200) learns what its transaction wrote
 * from notes the transaction keeps, not from index probes.
 *
 * At commit it asked the database twice per customer:
 * - "has this transaction written the customer's event already?", a probe of
 *   customer_events_of_customer_transaction, an index keyed by customer: a random leaf per
 *   event on a large feed;
 * - "what is this transaction's change of the customer?", a backward walk of the customer's
 *   change history that stops at this transaction's row. With no such row (a sale that leaves
 *   the average spend as it was) it walked the customer's whole history, so a customer's every
 *   sale cost more than the one before (bench: "webhook, one customer", outbox on ÷ off 0.70).
 *
 * Now:
 * - the writer notes each event it writes in the transaction-local setting `payme.events`
 *   (' <business>:<customer>=<event id>'), as the change history notes its rows in
 *   `payme.changes` (2026-12-03T1200), and reads both notes first;
 * - a change it finds there is read by its key, on the change history's newest page, and so is
 *   a noted event's type when a history write may re-type it;
 * - a customer absent from a note has nothing of that kind in this transaction, while the note
 *   is short. Like `payme.changes`, a note stops growing past 64 entries' length (a bulk
 *   statement): then a customer absent from it is looked up as before. Notes are only ever
 *   appended to, so one past its limit stays past it.
 * A setting set with `is_local` follows the transaction's savepoints, as the rows it notes do.
 * A transaction whose commit-time writes straddle this migration's commit may have its first
 * event written by the old writer, unnoted; the new one then writes it again, and the unique
 * index refuses the commit (the client's write fails and can be retried; nothing half-written).
 *
 * What is written is unchanged; a single-connection loop of sales on a million customers spent
 * 30 % less time in the writer (bench/results/2026-12-05-issue18-writer-notes.md).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await createEventWriter(db, WRITTEN_BY_INDEX)
}

/**
 * This migration's writer, with `writtenByIndex` as its lookup of the customer's event past the
 * events' note limit (it sets `written` and `written_type`). 2026-12-05T1300 creates it again
 * with a lookup in its two indexes; a later change of the writer copies it instead of editing it.
 */
export async function createEventWriter(
  db: Kysely<any>,
  writtenByIndex: RawBuilder<unknown>,
): Promise<void> {
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
        ${writtenByIndex}
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
      ${RETYPE_OR_RETURN}
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
}

export async function down(db: Kysely<any>): Promise<void> {
  // As 2026-12-04T2200 left it.
  await sql`create or replace function customer_event_write() returns trigger
    language plpgsql set plan_cache_mode = force_generic_plan as $$
    declare
      business constant bigint := new.business_id;
      customer constant bigint := new.customer_id;
      history constant boolean := tg_table_name = 'customer_purchase_history';
      written bigint;
      written_type text;
      last_action text;
      last_fields jsonb;
      event_type text;
    begin
      ${WRITTEN_BY_INDEX}
      if written is not null and (not history or written_type <> 'customer.updated') then
        return null;
      end if;
      ${CHANGE_BY_INDEX}
      ${EVENT_TYPE}
      ${RETYPE_OR_RETURN}
      ${SNAPSHOT_INSERT}
      if event_type = 'customer.erased' then
        perform customer_events_scrub(business, written);
      end if;
      return null;
    end $$`.execute(db)
}
