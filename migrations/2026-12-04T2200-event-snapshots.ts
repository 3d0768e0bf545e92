import { sql, type Kysely } from 'kysely'

/**
 * The outbox keeps the customer's values at commit as typed rows, and the feed's JSON is built
 * when the event is read. Building the JSON at commit was half of what the outbox cost a PATCH
 * (bench/results/2026-12-04-outbox-instructions.md: jsonb_build_object's catalogue lookups and
 * key sort, nine to_char calls, numbers to text); copying the same values into three composite
 * values costs a tenth of it. The feed reads a page of events at a time, so it pays once per
 * event read instead of once per write.
 *
 * Expand without rewriting the table: three nullable snapshot columns beside `data`. Events
 * written from now on carry the snapshots and no `data`; events written before keep their
 * `data`, and readers take whichever the row has (db/customer-events.ts: eventData). Nothing is
 * converted under a lock; a later migration can convert old rows in batches and drop `data`.
 *
 * The dead `history_changed` column (unread since 2026-12-04T1300) goes too.
 */
export async function up(db: Kysely<any>): Promise<void> {
  // The values of the customer as GET /{customerId} shows it (services/representations.ts), in
  // the JSON's order. Money stays numeric and times stay timestamps until the JSON is built.
  await sql`create type customer_event_customer as (
    id bigint, business_id bigint, name text, phone text, email text, address text,
    customer_type text, is_active boolean, prefer_sms boolean, prefer_email boolean,
    prefer_call boolean, version integer, merged_into bigint, erased_at timestamptz,
    created_at timestamptz, updated_at timestamptz)`.execute(db)
  await sql`create type customer_event_preferences as (
    id bigint, customer_id bigint, business_id bigint, favorite_products bigint[],
    preferred_payment text, average_spend numeric, best_contact_time text,
    do_not_contact boolean, can_receive_offers boolean, can_receive_loyalty boolean,
    created_at timestamptz, updated_at timestamptz)`.execute(db)
  // days_since_last_purchase is counted at commit, as the customer then stood.
  await sql`create type customer_event_history as (
    id bigint, customer_id bigint, business_id bigint, total_purchases integer,
    total_spent numeric, total_items_bought numeric, avg_transaction_value numeric,
    first_purchase_date timestamptz, last_purchase_date timestamptz,
    days_since_last_purchase integer, is_repeat_customer boolean, repeat_frequency text,
    customer_lifetime_value numeric, created_at timestamptz, updated_at timestamptz)`.execute(db)
  await sql`alter table customer_events
    add column customer_snapshot customer_event_customer,
    add column preferences_snapshot customer_event_preferences,
    add column history_snapshot customer_event_history,
    drop column history_changed`.execute(db)

  // The feed's `data` from the snapshots: 2026-12-03T1500's customer_event_data over typed
  // values instead of the tables, times as Date#toISOString writes them (in UTC, as
  // 2026-12-04T1310). A null preferences or history is JSON null, as a missing row was.
  await sql`create function customer_event_json(customer customer_event_customer,
      preferences customer_event_preferences, history customer_event_history) returns jsonb
    language plpgsql stable set timezone = 'UTC' as $$
    begin
      return jsonb_build_object(
        'id', customer.id, 'business_id', customer.business_id, 'name', customer.name,
        'phone', customer.phone, 'email', customer.email, 'address', customer.address,
        'customer_type', customer.customer_type, 'is_active', customer.is_active,
        'prefer_sms', customer.prefer_sms, 'prefer_email', customer.prefer_email,
        'prefer_call', customer.prefer_call, 'version', customer.version,
        'merged_into', customer.merged_into,
        'erased_at', to_char(customer.erased_at, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
        'created_at', to_char(customer.created_at, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
        'updated_at', to_char(customer.updated_at, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
        'preferences', case when preferences.id is not null then jsonb_build_object(
          'id', preferences.id, 'customer_id', preferences.customer_id,
          'business_id', preferences.business_id,
          'favorite_products', to_jsonb(preferences.favorite_products),
          'preferred_payment', preferences.preferred_payment,
          'average_spend', preferences.average_spend::text,
          'best_contact_time', preferences.best_contact_time,
          'do_not_contact', preferences.do_not_contact,
          'can_receive_offers', preferences.can_receive_offers,
          'can_receive_loyalty', preferences.can_receive_loyalty, 'version', customer.version,
          'created_at', to_char(preferences.created_at, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
          'updated_at', to_char(preferences.updated_at, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')) end,
        'history', case when history.id is not null then jsonb_build_object(
          'id', history.id, 'customer_id', history.customer_id,
          'business_id', history.business_id, 'total_purchases', history.total_purchases,
          'total_spent', history.total_spent::text,
          'total_items_bought', history.total_items_bought::text,
          'avg_transaction_value', history.avg_transaction_value::text,
          'first_purchase_date',
            to_char(history.first_purchase_date, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
          'last_purchase_date',
            to_char(history.last_purchase_date, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
          'days_since_last_purchase', history.days_since_last_purchase,
          'is_repeat_customer', history.is_repeat_customer,
          'repeat_frequency', history.repeat_frequency,
          'customer_lifetime_value', history.customer_lifetime_value::text,
          'created_at', to_char(history.created_at, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
          'updated_at', to_char(history.updated_at, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')) end);
    end $$`.execute(db)

  // An erasure's values replace those of the customer's earlier events, in either form.
  await sql`create function customer_events_scrub(business bigint, erased_event bigint)
    returns void language plpgsql as $$
    declare
      erased customer_events;
    begin
      select * into erased from customer_events e
        where e.business_id = business and e.id = erased_event;
      update customer_events earlier set
          customer_snapshot.name = (erased.customer_snapshot).name,
          customer_snapshot.phone = (erased.customer_snapshot).phone,
          customer_snapshot.email = (erased.customer_snapshot).email,
          customer_snapshot.address = (erased.customer_snapshot).address
        where earlier.business_id = business and earlier.customer_id = erased.customer_id
          and earlier.id <> erased.id and (earlier.customer_snapshot).id is not null;
      update customer_events earlier set
          preferences_snapshot.best_contact_time = (erased.preferences_snapshot).best_contact_time
        where earlier.business_id = business and earlier.customer_id = erased.customer_id
          and earlier.id <> erased.id and (earlier.preferences_snapshot).id is not null;
      -- Events written before 2026-12-04T2200 hold their data as JSON.
      update customer_events earlier set data = earlier.data
          || jsonb_build_object('name', (erased.customer_snapshot).name,
            'phone', (erased.customer_snapshot).phone, 'email', (erased.customer_snapshot).email,
            'address', (erased.customer_snapshot).address)
          || case when earlier.data -> 'preferences' = 'null'::jsonb then '{}'::jsonb
            else jsonb_build_object('preferences', jsonb_set(earlier.data -> 'preferences',
              '{best_contact_time}',
              coalesce(to_jsonb((erased.preferences_snapshot).best_contact_time),
                'null'::jsonb))) end
        where earlier.business_id = business and earlier.customer_id = erased.customer_id
          and earlier.data is not null;
    end $$`.execute(db)

  // 2026-12-04T1300's writer, writing the snapshots instead of the JSON.
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
          update customer_events set type = event_type
            where business_id = business and id = written;
        end if;
        return null;
      end if;
      insert into customer_events (business_id, customer_id, type, customer_snapshot,
          preferences_snapshot, history_snapshot)
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
        returning id into written;
      if event_type = 'customer.erased' then
        perform customer_events_scrub(business, written);
      end if;
      return null;
    end $$`.execute(db)

  // Nothing writes events through it any more.
  await sql`drop function customer_event_data(bigint, bigint)`.execute(db)
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table customer_events
    add column history_changed boolean not null default false`.execute(db)
  // Events written since keep their values: as JSON, in the one column the old readers know.
  await sql`update customer_events
    set data = customer_event_json(customer_snapshot, preferences_snapshot, history_snapshot)
    where (customer_snapshot).id is not null`.execute(db)
  // As 2026-12-04T1310 left it.
  await sql`create function customer_event_data(business bigint, customer bigint) returns jsonb
    language plpgsql stable set timezone = 'UTC' as $$
    begin
      return (select jsonb_build_object(
        'id', c.id, 'business_id', c.business_id, 'name', c.name, 'phone', c.phone,
        'email', c.email, 'address', c.address, 'customer_type', c.customer_type,
        'is_active', c.is_active, 'prefer_sms', c.prefer_sms, 'prefer_email', c.prefer_email,
        'prefer_call', c.prefer_call, 'version', c.version, 'merged_into', c.merged_into,
        'erased_at', to_char(c.erased_at, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
        'created_at', to_char(c.created_at, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
        'updated_at', to_char(c.updated_at, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
        'preferences', (select jsonb_build_object(
            'id', p.id, 'customer_id', p.customer_id, 'business_id', p.business_id,
            'favorite_products', to_jsonb(p.favorite_products),
            'preferred_payment', p.preferred_payment, 'average_spend', p.average_spend::text,
            'best_contact_time', p.best_contact_time, 'do_not_contact', p.do_not_contact,
            'can_receive_offers', p.can_receive_offers,
            'can_receive_loyalty', p.can_receive_loyalty, 'version', c.version,
            'created_at', to_char(p.created_at, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
            'updated_at', to_char(p.updated_at, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
          from customer_preferences p
          where p.business_id = c.business_id and p.customer_id = c.id),
        'history', (select jsonb_build_object(
            'id', h.id, 'customer_id', h.customer_id, 'business_id', h.business_id,
            'total_purchases', h.total_purchases, 'total_spent', h.total_spent::text,
            'total_items_bought', h.total_items_bought::text,
            'avg_transaction_value', h.avg_transaction_value::text,
            'first_purchase_date',
              to_char(h.first_purchase_date, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
            'last_purchase_date',
              to_char(h.last_purchase_date, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
            'days_since_last_purchase', case when h.last_purchase_date is not null then
              greatest(0, floor(extract(epoch from clock_timestamp() - h.last_purchase_date)
                / 86400))::integer end,
            'is_repeat_customer', h.is_repeat_customer, 'repeat_frequency', h.repeat_frequency,
            'customer_lifetime_value', h.customer_lifetime_value::text,
            'created_at', to_char(h.created_at, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
            'updated_at', to_char(h.updated_at, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
          from customer_purchase_history h
          where h.business_id = c.business_id and h.customer_id = c.id))
      from customers c
      where c.business_id = business and c.id = customer);
    end $$`.execute(db)
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
      select e.id, e.type into written, written_type from customer_events e
        where e.business_id = business and e.transaction_id = pg_current_xact_id()
          and e.customer_id = customer;
      if written is not null and (not history or written_type <> 'customer.updated') then
        return null;
      end if;
      select c.action, c.fields into last_action, last_fields from customer_changes c
        where c.business_id = business and c.customer_id = customer
          and c.transaction_id = pg_current_xact_id()
        order by c.id desc limit 1;
      event_type := case
        when last_action is null then 'purchase_history.updated'
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
  await sql`drop function customer_events_scrub(bigint, bigint)`.execute(db)
  await sql`alter table customer_events drop column customer_snapshot,
    drop column preferences_snapshot, drop column history_snapshot`.execute(db)
  await sql`drop function customer_event_json(customer_event_customer,
    customer_event_preferences, customer_event_history)`.execute(db)
  await sql`drop type customer_event_history`.execute(db)
  await sql`drop type customer_event_preferences`.execute(db)
  await sql`drop type customer_event_customer`.execute(db)
}
