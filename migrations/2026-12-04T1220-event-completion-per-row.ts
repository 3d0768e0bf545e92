import { sql, type Kysely } from 'kysely'

/**
 * The outbox's completion at commit (2026-12-03T1500) per event, by primary key, on a plan made
 * once per session. It completed every event of the transaction in one statement found through
 * (business_id, transaction_id); after a bulk load (an import, the seed: thousands of events in
 * one transaction) the statistics made the generic plan of that statement look costly, so
 * PostgreSQL planned it anew on every commit: about 0.8 of the 1 ms the outbox added to a
 * one-customer PATCH (pgbench, one client, without fsync: 1.6 ms a transaction with the outbox,
 * 0.6 ms without). Each event now completes itself: its change looked up by customer, its row
 * updated by key, both planned once (plan_cache_mode = force_generic_plan for this function:
 * every lookup is by key, so the generic plan is the right one whatever the statistics say).
 * Type, data and the erasure's scrubbing of earlier events are as before.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`create or replace function customer_event_complete() returns trigger
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
          -- A sale's own effect on the customer (its average spend) is part of the history
          -- change.
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
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`create or replace function customer_event_complete() returns trigger
    language plpgsql as $$
    begin
      perform 1 from customer_events
        where business_id = new.business_id and id = new.id and type is null;
      if not found then return null; end if;
      update customer_events e set
        type = case
          when ch.action is null then 'purchase_history.updated'
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
}
