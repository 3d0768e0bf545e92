import { sql, type Kysely } from 'kysely'

/**
 * The change history: one row per customer per transaction that changed it, written by
 * triggers on customers and customer_preferences (so no write path can skip it), with the
 * actor and request id the transaction was begun with (db/change-context.ts) and the fields'
 * old and new values. Several statements of one transaction on one customer (a create and its
 * preferences, a merge's moves) make one change; a field changed twice keeps its first `from`.
 *
 * An erasure, a merge's target, a delete and a consent name their change themselves
 * (payme.change_action, db/customer-changes.ts). Written on every customer write, so kept cheap (the benchmark's limit: +10 % on a PATCH):
 * each trigger compares its table's columns by name rather than diffing whole rows as JSON, and
 * the row a transaction already wrote for a customer is found through a transaction-local
 * setting instead of a unique index every insert would maintain.
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
    primary key (business_id, id)
  )`.execute(db)
  await sql`create index customer_changes_by_customer
    on customer_changes (business_id, customer_id, id)`.execute(db)

  // A field changed again in the same transaction keeps the 'from' it had first.
  await sql`create function customer_change_fields_merge(earlier jsonb, later jsonb)
    returns jsonb language sql immutable as $$
      select earlier || coalesce(jsonb_object_agg(key, case when earlier ? key
          then jsonb_build_object('from', earlier -> key -> 'from', 'to', value -> 'to')
          else value end), '{}'::jsonb)
      from jsonb_each(later)
    $$`.execute(db)

  // The one writer of customer_changes: this transaction's change of the customer, created or
  // merged into, with the transaction's actor and request id (db/change-context.ts). The rows
  // this transaction wrote are remembered in payme.changes (' business:customer=id', up to 64);
  // past that (a bulk write), the customer's newest row tells whether it is this transaction's.
  await sql`create function customer_change_add(business bigint, customer bigint, kind text,
      changed jsonb) returns void language plpgsql as $$
    declare
      written constant text := coalesce(current_setting('payme.changes', true), '');
      entry constant text := ' ' || business || ':' || customer || '=';
      at constant integer := position(entry in written);
      named constant text := nullif(current_setting('payme.change_action', true), '');
      change bigint;
    begin
      if at > 0 then
        change := split_part(substr(written, at + length(entry)), ' ', 1)::bigint;
      elsif length(written) > 64 * 24 then
        select id into change from customer_changes
          where business_id = business and customer_id = customer
            and transaction_id = pg_current_xact_id()
            and id >= (select max(id) from customer_changes
              where business_id = business and customer_id = customer);
      end if;
      if change is not null then
        update customer_changes set
          fields = customer_change_fields_merge(fields, changed),
          -- The first statement names the change, unless it was only an update.
          action = case when action = 'updated' then coalesce(named, kind) else action end
        where business_id = business and id = change;
        return;
      end if;
      insert into customer_changes (business_id, customer_id, actor, request_id, action, fields)
      values (business, customer,
        coalesce(nullif(current_setting('payme.actor', true), ''), 'system'),
        nullif(current_setting('payme.request_id', true), ''), coalesce(named, kind), changed)
      returning id into change;
      if length(written) <= 64 * 24 then
        perform set_config('payme.changes', written || entry || change, true);
      end if;
    end $$`.execute(db)

  // Each column that moved, with its old and new value, as one expression (one evaluation per
  // row): {"name": {"from": …, "to": …}}; on insert every column, from null.
  const movedColumns = (columns: string[]) =>
    sql.raw(`(select coalesce(jsonb_object_agg(k, jsonb_build_object('from', o, 'to', n)),
        '{}'::jsonb)
      from (values ${columns
        .map((column) => `('${column}', to_jsonb(old.${column}), to_jsonb(new.${column}))`)
        .join(',\n        ')}) v(k, o, n)
      where tg_op = 'INSERT' or o is distinct from n)`)

  // The trigger's body: a customer's first change in the transaction is one insert; a later one
  // (or any, past 64 customers) goes through customer_change_add, which merges it.
  const record = (customer: string, kind: string) =>
    sql.raw(`written := coalesce(current_setting('payme.changes', true), '');
      if written <> '' and (length(written) > 64 * 24
          or position(' ' || new.business_id || ':' || ${customer} || '=' in written) > 0) then
        perform customer_change_add(new.business_id, ${customer}, ${kind}, changed);
        return null;
      end if;
      insert into customer_changes (business_id, customer_id, actor, request_id, action, fields)
      values (new.business_id, ${customer},
        coalesce(nullif(current_setting('payme.actor', true), ''), 'system'),
        nullif(current_setting('payme.request_id', true), ''),
        coalesce(nullif(current_setting('payme.change_action', true), ''), ${kind}), changed)
      returning id into change;
      perform set_config('payme.changes',
        written || ' ' || new.business_id || ':' || ${customer} || '=' || change, true);
      return null;`)

  await sql`create function customer_change_of_customer() returns trigger
    language plpgsql as $$
    declare
      changed jsonb := ${movedColumns([
        'name',
        'phone',
        'email',
        'address',
        'customer_type',
        'is_active',
        'prefer_sms',
        'prefer_email',
        'prefer_call',
        'merged_into',
      ])};
      written text;
      change bigint;
    begin
      -- A write of the customer's row is a change even when no value moved (its version did).
      ${record(
        'new.id',
        `case
          when tg_op = 'INSERT' then 'created'
          when old.merged_into is null and new.merged_into is not null then 'merged'
          when old.merged_into is not null and new.merged_into is null then 'unmerged'
          when old.is_active and not new.is_active then 'deleted'
          when not old.is_active and new.is_active then 'reactivated'
          else 'updated' end`,
      )}
    end $$`.execute(db)

  await sql`create function customer_change_of_preferences() returns trigger
    language plpgsql as $$
    declare
      changed jsonb := ${movedColumns([
        'favorite_products',
        'preferred_payment',
        'average_spend',
        'best_contact_time',
        'do_not_contact',
        'can_receive_offers',
        'can_receive_loyalty',
      ])};
      written text;
      change bigint;
    begin
      if changed = '{}'::jsonb then return null; end if;
      ${record('new.customer_id', `'updated'`)}
    end $$`.execute(db)

  await sql`create trigger customer_changes_of_customers
    after insert or update on customers
    for each row execute function customer_change_of_customer()`.execute(db)
  await sql`create trigger customer_changes_of_preferences
    after insert or update on customer_preferences
    for each row execute function customer_change_of_preferences()`.execute(db)
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop trigger customer_changes_of_preferences on customer_preferences`.execute(db)
  await sql`drop trigger customer_changes_of_customers on customers`.execute(db)
  await sql`drop function customer_change_of_preferences()`.execute(db)
  await sql`drop function customer_change_of_customer()`.execute(db)
  await sql`drop function customer_change_add(bigint, bigint, text, jsonb)`.execute(db)
  await sql`drop function customer_change_fields_merge(jsonb, jsonb)`.execute(db)
  await sql`drop table customer_changes`.execute(db)
}
