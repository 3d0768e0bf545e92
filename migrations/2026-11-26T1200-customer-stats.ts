import { sql, type Kysely } from 'kysely'

/**
 * Analytics without scanning a million rows: per business, counts and lifetime-value sums by
 * active flag and repeat frequency, kept by a trigger on customer_purchase_history in the
 * same transaction as every change. The history row carries the customer's is_active (copied
 * by a trigger on customers), so every change to the figures passes through that one row and
 * is serialised by its lock. Rows are spread over 16 slots (customer_id % 16) so that sales
 * for different customers seldom wait for the same counter row.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table customer_purchase_history
    add column is_active boolean not null default true`.execute(db)
  await sql`update customer_purchase_history h set is_active = c.is_active
    from customers c
    where c.business_id = h.business_id and c.id = h.customer_id and not c.is_active`.execute(db)

  await sql`create table customer_stats (
    business_id bigint not null references businesses (id),
    slot smallint not null,
    is_active boolean not null,
    repeat_frequency text not null,
    customers bigint not null check (customers >= 0),
    lifetime_value numeric not null,
    primary key (business_id, slot, is_active, repeat_frequency)
  )`.execute(db)

  await sql`create function customer_stats_add(
      p_business_id bigint, p_slot smallint, p_is_active boolean, p_repeat_frequency text,
      p_customers bigint, p_lifetime_value numeric)
    returns void language plpgsql as $$
  begin
    update customer_stats
      set customers = customers + p_customers, lifetime_value = lifetime_value + p_lifetime_value
      where business_id = p_business_id and slot = p_slot and is_active = p_is_active
        and repeat_frequency = p_repeat_frequency;
    if not found then
      insert into customer_stats as s
          (business_id, slot, is_active, repeat_frequency, customers, lifetime_value)
        values (p_business_id, p_slot, p_is_active, p_repeat_frequency, p_customers,
          p_lifetime_value)
        on conflict (business_id, slot, is_active, repeat_frequency) do update
        set customers = s.customers + excluded.customers,
          lifetime_value = s.lifetime_value + excluded.lifetime_value;
    end if;
  end $$`.execute(db)

  // Net change per group, applied in key order so that concurrent changes cannot deadlock.
  await sql`create function customer_stats_apply() returns trigger language plpgsql as $$
  declare
    m record;
  begin
    if tg_op = 'INSERT' then
      for m in select business_id, (customer_id % 16)::smallint as slot, is_active,
                 repeat_frequency, count(*) as customers,
                 sum(customer_lifetime_value) as lifetime_value
               from new_rows group by 1, 2, 3, 4 order by 1, 2, 3, 4 loop
        perform customer_stats_add(m.business_id, m.slot, m.is_active, m.repeat_frequency,
          m.customers, m.lifetime_value);
      end loop;
    elsif tg_op = 'DELETE' then
      for m in select business_id, (customer_id % 16)::smallint as slot, is_active,
                 repeat_frequency, -count(*) as customers,
                 -sum(customer_lifetime_value) as lifetime_value
               from old_rows group by 1, 2, 3, 4 order by 1, 2, 3, 4 loop
        perform customer_stats_add(m.business_id, m.slot, m.is_active, m.repeat_frequency,
          m.customers, m.lifetime_value);
      end loop;
    else
      for m in select business_id, slot, is_active, repeat_frequency,
                 sum(customers) as customers, sum(lifetime_value) as lifetime_value
               from (
                 select business_id, (customer_id % 16)::smallint as slot, is_active,
                   repeat_frequency, 1 as customers, customer_lifetime_value as lifetime_value
                 from new_rows
                 union all
                 select business_id, (customer_id % 16)::smallint, is_active, repeat_frequency,
                   -1, -customer_lifetime_value
                 from old_rows
               ) changes group by 1, 2, 3, 4
               having sum(customers) <> 0 or sum(lifetime_value) <> 0
               order by 1, 2, 3, 4 loop
        perform customer_stats_add(m.business_id, m.slot, m.is_active, m.repeat_frequency,
          m.customers, m.lifetime_value);
      end loop;
    end if;
    return null;
  end $$`.execute(db)

  await sql`create trigger customer_stats_on_insert after insert on customer_purchase_history
    referencing new table as new_rows
    for each statement execute function customer_stats_apply()`.execute(db)
  await sql`create trigger customer_stats_on_update after update on customer_purchase_history
    referencing old table as old_rows new table as new_rows
    for each statement execute function customer_stats_apply()`.execute(db)
  await sql`create trigger customer_stats_on_delete after delete on customer_purchase_history
    referencing old table as old_rows
    for each statement execute function customer_stats_apply()`.execute(db)

  // A customer deactivated or reactivated moves its figures between the active groups.
  await sql`create function customer_history_follow_active() returns trigger language plpgsql as $$
  begin
    update customer_purchase_history h set is_active = n.is_active
      from new_rows n join old_rows o on o.business_id = n.business_id and o.id = n.id
      where n.is_active <> o.is_active
        and h.business_id = n.business_id and h.customer_id = n.id;
    return null;
  end $$`.execute(db)
  await sql`create trigger customer_history_follow_active after update on customers
    referencing old table as old_rows new table as new_rows
    for each statement execute function customer_history_follow_active()`.execute(db)

  await sql`insert into customer_stats
      (business_id, slot, is_active, repeat_frequency, customers, lifetime_value)
    select business_id, (customer_id % 16)::smallint, is_active, repeat_frequency, count(*),
      sum(customer_lifetime_value)
    from customer_purchase_history group by 1, 2, 3, 4`.execute(db)
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop trigger customer_history_follow_active on customers`.execute(db)
  for (const trigger of ['insert', 'update', 'delete']) {
    await sql`drop trigger ${sql.raw(`customer_stats_on_${trigger}`)}
      on customer_purchase_history`.execute(db)
  }
  await sql`drop function customer_history_follow_active()`.execute(db)
  await sql`drop function customer_stats_apply()`.execute(db)
  await sql`drop function customer_stats_add(bigint, smallint, boolean, text, bigint, numeric)`.execute(
    db,
  )
  await sql`drop table customer_stats`.execute(db)
  await sql`alter table customer_purchase_history drop column is_active`.execute(db)
}
