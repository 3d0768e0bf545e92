import { sql, type Kysely } from 'kysely'

/**
 * The outbox of "Events out": one event per customer per committed transaction that changed it,
 * written by triggers in that transaction (so no write path can skip it or add a second):
 *
 * - a change-history row (every write of a customer, its preferences or its consents, a merge,
 *   an undo, an erasure; 2026-12-03T1200) opens the customer's event;
 * - so does a write of its purchase history (the sales feed, attribution, a merge's moves);
 * - at commit, a deferred trigger names the event after the transaction's change of the
 *   customer (`customer.<action>`, `consent.changed`; `purchase_history.updated` when only the
 *   history moved, with at most the average spend the sales feed keeps) and stores the customer as `GET /{customerId}` shows it, without notes, as
 *   it stands at the end of the transaction.
 *
 * The feed's order is `position`, given after commit by one sequencer per business at a time
 * (customer_events_sequence, under an advisory lock, run before each read of the feed): it
 * numbers the events committed so far, so an event that commits late gets a later position and
 * can never land behind one a reader already passed. Ordering by anything allocated before
 * commit (the id, the transaction id) could.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`create table customer_events (
    id bigint generated always as identity,
    business_id bigint not null,
    customer_id bigint not null,
    transaction_id xid8 not null default pg_current_xact_id(),
    type text,
    data jsonb,
    -- Whether the transaction wrote the customer's purchase history.
    history_changed boolean not null default false,
    created_at timestamptz not null default now(),
    -- The feed's order: null until the sequencer numbers the committed event.
    position bigint,
    primary key (business_id, id)
  )`.execute(db)
  // One event per customer per transaction.
  await sql`create unique index customer_events_one_per_transaction
    on customer_events (business_id, transaction_id, customer_id)`.execute(db)
  await sql`create unique index customer_events_in_feed_order
    on customer_events (business_id, position)`.execute(db)
  await sql`create index customer_events_to_sequence
    on customer_events (business_id, id) where position is null`.execute(db)
  await sql`create sequence customer_event_positions as bigint`.execute(db)

  // Numbers the business's committed, unnumbered events (oldest first), one run per business
  // at a time: the lock is held until this run commits, so the next run starts from what it
  // saw and numbers only what committed since, with higher numbers.
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
  await sql`create index customer_events_by_customer
    on customer_events (business_id, customer_id, id)`.execute(db)

  // Date#toISOString's form, as the API shows every time.
  await sql`create function payme_iso(at timestamptz) returns text
    language sql stable as $$
      select to_char(at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
    $$`.execute(db)

  // The customer as GET /{customerId} shows it, without notes (services/representations.ts:
  // toCustomer, toPreferences, toPurchaseHistory); money and quantities as decimal strings.
  await sql`create function customer_event_data(business bigint, customer bigint) returns jsonb
    language sql stable as $$
      select jsonb_build_object(
        'id', c.id, 'business_id', c.business_id, 'name', c.name, 'phone', c.phone,
        'email', c.email, 'address', c.address, 'customer_type', c.customer_type,
        'is_active', c.is_active, 'prefer_sms', c.prefer_sms, 'prefer_email', c.prefer_email,
        'prefer_call', c.prefer_call, 'version', c.version, 'merged_into', c.merged_into,
        'erased_at', payme_iso(c.erased_at), 'created_at', payme_iso(c.created_at),
        'updated_at', payme_iso(c.updated_at),
        'preferences', (select jsonb_build_object(
            'id', p.id, 'customer_id', p.customer_id, 'business_id', p.business_id,
            'favorite_products', to_jsonb(p.favorite_products),
            'preferred_payment', p.preferred_payment, 'average_spend', p.average_spend::text,
            'best_contact_time', p.best_contact_time, 'do_not_contact', p.do_not_contact,
            'can_receive_offers', p.can_receive_offers,
            'can_receive_loyalty', p.can_receive_loyalty, 'version', c.version,
            'created_at', payme_iso(p.created_at), 'updated_at', payme_iso(p.updated_at))
          from customer_preferences p
          where p.business_id = c.business_id and p.customer_id = c.id),
        'history', (select jsonb_build_object(
            'id', h.id, 'customer_id', h.customer_id, 'business_id', h.business_id,
            'total_purchases', h.total_purchases, 'total_spent', h.total_spent::text,
            'total_items_bought', h.total_items_bought::text,
            'avg_transaction_value', h.avg_transaction_value::text,
            'first_purchase_date', payme_iso(h.first_purchase_date),
            'last_purchase_date', payme_iso(h.last_purchase_date),
            'days_since_last_purchase', case when h.last_purchase_date is not null then
              greatest(0, floor(extract(epoch from clock_timestamp() - h.last_purchase_date)
                / 86400))::integer end,
            'is_repeat_customer', h.is_repeat_customer, 'repeat_frequency', h.repeat_frequency,
            'customer_lifetime_value', h.customer_lifetime_value::text,
            'created_at', payme_iso(h.created_at), 'updated_at', payme_iso(h.updated_at))
          from customer_purchase_history h
          where h.business_id = c.business_id and h.customer_id = c.id))
      from customers c
      where c.business_id = business and c.id = customer
    $$`.execute(db)

  // Opens this transaction's event of each customer in the statement's rows (once: the unique
  // index keeps the first), from a change-history statement.
  await sql`create function customer_events_open() returns trigger
    language plpgsql as $$
    begin
      insert into customer_events (business_id, customer_id)
      select distinct business_id, customer_id from touched
      on conflict (business_id, transaction_id, customer_id) do nothing;
      return null;
    end $$`.execute(db)
  // The same from a purchase-history statement, which also marks the event as one of a history
  // change.
  await sql`create function customer_events_open_history() returns trigger
    language plpgsql as $$
    begin
      insert into customer_events as e (business_id, customer_id, history_changed)
      select distinct business_id, customer_id, true from touched
      on conflict (business_id, transaction_id, customer_id) do update
        set history_changed = true where not e.history_changed;
      return null;
    end $$`.execute(db)
  await sql`create trigger customer_events_of_changes
    after insert on customer_changes referencing new table as touched
    for each statement execute function customer_events_open()`.execute(db)
  // A statement trigger with a transition table takes one event: insert and update apart.
  await sql`create trigger customer_events_of_new_histories
    after insert on customer_purchase_history referencing new table as touched
    for each statement execute function customer_events_open_history()`.execute(db)
  await sql`create trigger customer_events_of_histories
    after update on customer_purchase_history referencing new table as touched
    for each statement execute function customer_events_open_history()`.execute(db)

  // At commit: each event's type from the transaction's change of its customer, and its data as
  // the customer then stands. The first event of the transaction to reach commit completes them
  // all in one statement (an import's batch is 500); the others find theirs done. An erasure
  // also scrubs the customer's earlier events of what it erased (the erased values replace
  // theirs).
  await sql`create function customer_event_complete() returns trigger
    language plpgsql as $$
    begin
      perform 1 from customer_events
        where business_id = new.business_id and id = new.id and type is null;
      if not found then return null; end if;
      update customer_events e set
        type = case
          when ch.action is null then 'purchase_history.updated'
          -- A sale's own effect on the customer (its average spend) is part of the history
          -- change.
          when ch.action = 'updated' and e.history_changed
            and ch.fields - 'average_spend' = '{}'::jsonb then 'purchase_history.updated'
          when ch.action = 'consent_changed' then 'consent.changed'
          else 'customer.' || ch.action end,
        data = customer_event_data(e.business_id, e.customer_id)
      from customer_events pending
        left join lateral (
          select c.action, c.fields from customer_changes c
          where c.business_id = pending.business_id and c.customer_id = pending.customer_id
            and c.transaction_id = pending.transaction_id
          order by c.id desc limit 1
        ) ch on true
      where pending.business_id = new.business_id
        and pending.transaction_id = new.transaction_id and pending.type is null
        and e.business_id = pending.business_id and e.id = pending.id;
      update customer_events earlier set data = earlier.data
          || jsonb_build_object('name', erased.data -> 'name', 'phone', erased.data -> 'phone',
            'email', erased.data -> 'email', 'address', erased.data -> 'address')
          || case when earlier.data -> 'preferences' = 'null'::jsonb then '{}'::jsonb
            else jsonb_build_object('preferences', jsonb_set(earlier.data -> 'preferences',
              '{best_contact_time}', coalesce(erased.data #> '{preferences,best_contact_time}',
                'null'::jsonb))) end
        from customer_events erased
        where erased.business_id = new.business_id
          and erased.transaction_id = new.transaction_id and erased.type = 'customer.erased'
          and earlier.business_id = erased.business_id
          and earlier.customer_id = erased.customer_id
          and earlier.id <> erased.id and earlier.data is not null;
      return null;
    end $$`.execute(db)
  await sql`create constraint trigger customer_events_complete
    after insert on customer_events deferrable initially deferred
    for each row execute function customer_event_complete()`.execute(db)
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop trigger customer_events_complete on customer_events`.execute(db)
  await sql`drop trigger customer_events_of_histories on customer_purchase_history`.execute(db)
  await sql`drop trigger customer_events_of_new_histories on customer_purchase_history`.execute(db)
  await sql`drop trigger customer_events_of_changes on customer_changes`.execute(db)
  await sql`drop function customer_event_complete()`.execute(db)
  await sql`drop function customer_events_sequence(bigint)`.execute(db)
  await sql`drop function customer_events_open_history()`.execute(db)
  await sql`drop function customer_events_open()`.execute(db)
  await sql`drop function customer_event_data(bigint, bigint)`.execute(db)
  await sql`drop function payme_iso(timestamptz)`.execute(db)
  await sql`drop table customer_events`.execute(db)
  await sql`drop sequence customer_event_positions`.execute(db)
}
