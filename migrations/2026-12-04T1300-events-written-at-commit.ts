import { sql, type Kysely } from 'kysely'

/**
 * The outbox writes each event once, complete, at commit. Before (2026-12-03T1500), a statement
 * trigger with a transition table opened the event as each change was written (a row with
 * neither type nor data), and a deferred trigger on that row completed it at commit: two
 * versions of every event row, the second with its kilobyte of customer data, and a
 * transition table per statement. Together about 0.4 ms of PostgreSQL CPU on a PATCH with 20
 * connections, a fifth of it the second write.
 *
 * Now the deferred triggers sit on what opens an event: a change-history row (one per customer
 * per transaction, 2026-12-03T1200) and a write of a purchase history. The first of them to fire
 * at commit for a customer writes the event (type, data as the customer then stands, and the
 * erasure's scrubbing of earlier events, all as before); the others find it written. The one
 * case that writes twice: the change fires first as a plain update of the average spend and the
 * purchase history was written too, so the event is re-typed `purchase_history.updated`. A sale
 * writes the history before the average spend, so its history fires first; a create (history row
 * after the customer) or a merge keeps its type, so a later history write leaves it alone.
 *
 * Fewer index entries per event, too: one unique index on (business, customer, transaction)
 * does the work of the two that kept one event per customer per transaction and found a
 * customer's events (for the erasure), and the feed's order indexes numbered events only.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`drop trigger customer_events_complete on customer_events`.execute(db)
  await sql`drop trigger customer_events_of_changes on customer_changes`.execute(db)
  await sql`drop trigger customer_events_of_new_histories on customer_purchase_history`.execute(db)
  await sql`drop trigger customer_events_of_histories on customer_purchase_history`.execute(db)
  await sql`drop function customer_event_complete()`.execute(db)
  await sql`drop function customer_events_open()`.execute(db)
  await sql`drop function customer_events_open_history()`.execute(db)

  await sql`create unique index customer_events_of_customer_transaction
    on customer_events (business_id, customer_id, transaction_id)`.execute(db)
  await sql`drop index customer_events_one_per_transaction`.execute(db)
  await sql`drop index customer_events_by_customer`.execute(db)
  await sql`create unique index customer_events_in_feed_order_numbered
    on customer_events (business_id, position) where position is not null`.execute(db)
  await sql`drop index customer_events_in_feed_order`.execute(db)
  await sql`alter index customer_events_in_feed_order_numbered
    rename to customer_events_in_feed_order`.execute(db)

  // Every lookup is by key, so the generic plan is right whatever bulk loads did to the
  // statistics (as in 2026-12-04T1220).
  await sql`create function customer_event_write() returns trigger
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
      select e.id, e.type into written, written_type from customer_events e
        where e.business_id = business and e.transaction_id = pg_current_xact_id()
          and e.customer_id = customer;
      -- Written already: only a history write can change its type, and only that of an update.
      if written is not null and (not history or written_type <> 'customer.updated') then
        return null;
      end if;
      select c.action, c.fields into last_action, last_fields from customer_changes c
        where c.business_id = business and c.customer_id = customer
          and c.transaction_id = pg_current_xact_id()
        order by c.id desc limit 1;
      event_type := case
        when last_action is null then 'purchase_history.updated'
        -- A sale's own effect on the customer (its average spend) is part of the history
        -- change.
        when last_action = 'updated' and history
          and last_fields - 'average_spend' = '{}'::jsonb then 'purchase_history.updated'
        when last_action = 'consent_changed' then 'consent.changed'
        else 'customer.' || last_action end;
      if written is not null then
        if event_type <> written_type then
          update customer_events set history_changed = true, type = event_type
            where business_id = business and id = written;
        end if;
        return null;
      end if;
      insert into customer_events (business_id, customer_id, type, data, history_changed)
        values (business, customer, event_type, customer_event_data(business, customer), history)
        returning id into written;
      if event_type = 'customer.erased' then
        -- The erased values replace those of the customer's earlier events.
        update customer_events earlier set data = earlier.data
            || jsonb_build_object('name', erased.data -> 'name', 'phone', erased.data -> 'phone',
              'email', erased.data -> 'email', 'address', erased.data -> 'address')
            || case when earlier.data -> 'preferences' = 'null'::jsonb then '{}'::jsonb
              else jsonb_build_object('preferences', jsonb_set(earlier.data -> 'preferences',
                '{best_contact_time}', coalesce(erased.data #> '{preferences,best_contact_time}',
                  'null'::jsonb))) end
          from customer_events erased
          where erased.business_id = business and erased.id = written
            and earlier.business_id = erased.business_id
            and earlier.customer_id = erased.customer_id
            and earlier.id <> erased.id and earlier.data is not null;
      end if;
      return null;
    end $$`.execute(db)
  await sql`create constraint trigger customer_events_of_changes
    after insert on customer_changes deferrable initially deferred
    for each row execute function customer_event_write()`.execute(db)
  await sql`create constraint trigger customer_events_of_histories
    after insert or update on customer_purchase_history deferrable initially deferred
    for each row execute function customer_event_write()`.execute(db)
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop trigger customer_events_of_histories on customer_purchase_history`.execute(db)
  await sql`drop trigger customer_events_of_changes on customer_changes`.execute(db)
  await sql`drop function customer_event_write()`.execute(db)

  await sql`create unique index customer_events_one_per_transaction
    on customer_events (business_id, transaction_id, customer_id)`.execute(db)
  await sql`create index customer_events_by_customer
    on customer_events (business_id, customer_id, id)`.execute(db)
  await sql`drop index customer_events_of_customer_transaction`.execute(db)
  await sql`create unique index customer_events_in_feed_order_all
    on customer_events (business_id, position)`.execute(db)
  await sql`drop index customer_events_in_feed_order`.execute(db)
  await sql`alter index customer_events_in_feed_order_all
    rename to customer_events_in_feed_order`.execute(db)

  // 2026-12-03T1500's openers and 2026-12-04T1220's completion, as they were.
  await sql`create function customer_events_open() returns trigger
    language plpgsql as $$
    begin
      insert into customer_events (business_id, customer_id)
      select distinct business_id, customer_id from touched
      on conflict (business_id, transaction_id, customer_id) do nothing;
      return null;
    end $$`.execute(db)
  await sql`create function customer_events_open_history() returns trigger
    language plpgsql as $$
    begin
      insert into customer_events as e (business_id, customer_id, history_changed)
      select distinct business_id, customer_id, true from touched
      on conflict (business_id, transaction_id, customer_id) do update
        set history_changed = true where not e.history_changed;
      return null;
    end $$`.execute(db)
  await sql`create function customer_event_complete() returns trigger
    language plpgsql set plan_cache_mode = force_generic_plan as $$
    declare
      last_action text;
      last_fields jsonb;
      completed text;
    begin
      select c.action, c.fields into last_action, last_fields from customer_changes c
        where c.business_id = new.business_id and c.customer_id = new.customer_id
          and c.transaction_id = new.transaction_id
        order by c.id desc limit 1;
      update customer_events e set
        type = case
          when last_action is null then 'purchase_history.updated'
          when last_action = 'updated' and e.history_changed
            and last_fields - 'average_spend' = '{}'::jsonb then 'purchase_history.updated'
          when last_action = 'consent_changed' then 'consent.changed'
          else 'customer.' || last_action end,
        data = customer_event_data(e.business_id, e.customer_id)
      where e.business_id = new.business_id and e.id = new.id and e.type is null
      returning e.type into completed;
      if completed = 'customer.erased' then
        update customer_events earlier set data = earlier.data
            || jsonb_build_object('name', erased.data -> 'name', 'phone', erased.data -> 'phone',
              'email', erased.data -> 'email', 'address', erased.data -> 'address')
            || case when earlier.data -> 'preferences' = 'null'::jsonb then '{}'::jsonb
              else jsonb_build_object('preferences', jsonb_set(earlier.data -> 'preferences',
                '{best_contact_time}', coalesce(erased.data #> '{preferences,best_contact_time}',
                  'null'::jsonb))) end
          from customer_events erased
          where erased.business_id = new.business_id and erased.id = new.id
            and earlier.business_id = erased.business_id
            and earlier.customer_id = erased.customer_id
            and earlier.id <> erased.id and earlier.data is not null;
      end if;
      return null;
    end $$`.execute(db)
  await sql`create trigger customer_events_of_changes
    after insert on customer_changes referencing new table as touched
    for each statement execute function customer_events_open()`.execute(db)
  await sql`create trigger customer_events_of_new_histories
    after insert on customer_purchase_history referencing new table as touched
    for each statement execute function customer_events_open_history()`.execute(db)
  await sql`create trigger customer_events_of_histories
    after update on customer_purchase_history referencing new table as touched
    for each statement execute function customer_events_open_history()`.execute(db)
  await sql`create constraint trigger customer_events_complete
    after insert on customer_events deferrable initially deferred
    for each row execute function customer_event_complete()`.execute(db)
}
