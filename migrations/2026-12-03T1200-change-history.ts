import { sql, type Kysely } from 'kysely'

/**
 * The change history: one row per customer per transaction that changed it, written by
 * triggers on customers and customer_preferences (so no write path can skip it), with the
 * actor and request id the transaction was begun with (db/change-context.ts) and the fields'
 * old and new values. Several statements of one transaction on one customer (a create and its
 * preferences, a merge's moves) make one change; a field changed twice keeps its first `from`.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`create table customer_changes (
    id bigint generated always as identity,
    business_id bigint not null,
    customer_id bigint not null,
    transaction_id xid8 not null default pg_current_xact_id(),
    at timestamptz not null default now(),
    actor text not null,
    request_id text,
    action text not null,
    fields jsonb not null,
    primary key (business_id, id),
    foreign key (business_id, customer_id) references customers (business_id, id),
    unique (business_id, customer_id, transaction_id)
  )`.execute(db)
  await sql`create index customer_changes_by_customer
    on customer_changes (business_id, customer_id, id)`.execute(db)

  // A field changed again in the same transaction keeps the `from` it had first.
  await sql`create function customer_change_fields_merge(earlier jsonb, later jsonb)
    returns jsonb language sql immutable as $$
      select earlier || coalesce(jsonb_object_agg(key, case when earlier ? key
          then jsonb_build_object('from', earlier -> key -> 'from', 'to', value -> 'to')
          else value end), '{}'::jsonb)
      from jsonb_each(later)
    $$`.execute(db)

  // The one writer of customer_changes: this transaction's change of the customer, created or
  // merged into, with the transaction's actor and request id (db/change-context.ts).
  await sql`create function customer_change_add(business bigint, customer bigint, kind text,
      changed jsonb) returns void language sql as $$
      insert into customer_changes (business_id, customer_id, actor, request_id, action, fields)
      values (business, customer,
        coalesce(nullif(current_setting('payme.actor', true), ''), 'system'),
        nullif(current_setting('payme.request_id', true), ''),
        coalesce(nullif(current_setting('payme.change_action', true), ''), kind), changed)
      on conflict (business_id, customer_id, transaction_id) do update set
        fields = customer_change_fields_merge(customer_changes.fields, excluded.fields),
        -- The first statement names the change, unless it was only an update.
        action = case when customer_changes.action = 'updated' then excluded.action
          else customer_changes.action end
    $$`.execute(db)

  await sql`create function customer_change_record() returns trigger language plpgsql as $$
    declare
      incidental constant text[] := array['id', 'business_id', 'customer_id', 'version',
        'created_at', 'updated_at', 'phone_sha256'];
      changed jsonb;
      kind text;
      customer bigint;
    begin
      if tg_op = 'INSERT' then
        select coalesce(jsonb_object_agg(key, jsonb_build_object('from', null, 'to', value)),
            '{}'::jsonb)
          into changed
          from jsonb_each(to_jsonb(new))
          where not key = any(incidental);
      else
        select coalesce(jsonb_object_agg(n.key, jsonb_build_object('from', o.value, 'to', n.value)),
            '{}'::jsonb)
          into changed
          from jsonb_each(to_jsonb(new)) n join jsonb_each(to_jsonb(old)) o on o.key = n.key
          where n.value is distinct from o.value and not n.key = any(incidental);
      end if;
      if tg_table_name = 'customers' then
        customer := new.id;
        -- A write of the customer's row is a change even when no value moved (its version did).
        kind := case
          when tg_op = 'INSERT' then 'created'
          -- Read through jsonb: erased_at comes with the erasure's migration.
          when to_jsonb(old) ->> 'erased_at' is null and to_jsonb(new) ->> 'erased_at' is not null
            then 'erased'
          when old.merged_into is null and new.merged_into is not null then 'merged'
          when old.merged_into is not null and new.merged_into is null then 'unmerged'
          when old.is_active and not new.is_active then 'deleted'
          when not old.is_active and new.is_active then 'reactivated'
          else 'updated' end;
      else
        customer := new.customer_id;
        if changed = '{}'::jsonb then return null; end if;
        kind := 'updated';
      end if;
      perform customer_change_add(new.business_id, customer, kind, changed);
      return null;
    end $$`.execute(db)

  await sql`create trigger customer_changes_of_customers
    after insert or update on customers
    for each row execute function customer_change_record()`.execute(db)
  await sql`create trigger customer_changes_of_preferences
    after insert or update on customer_preferences
    for each row execute function customer_change_record()`.execute(db)
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop trigger customer_changes_of_preferences on customer_preferences`.execute(db)
  await sql`drop trigger customer_changes_of_customers on customers`.execute(db)
  await sql`drop function customer_change_record()`.execute(db)
  await sql`drop function customer_change_add(bigint, bigint, text, jsonb)`.execute(db)
  await sql`drop function customer_change_fields_merge(jsonb, jsonb)`.execute(db)
  await sql`drop table customer_changes`.execute(db)
}
