import { sql, type Kysely } from 'kysely'

/**
 * The customer counters spread over 16 slots (customer_id % 16), like customer_stats: with one
 * row per business, type and active flag, every create (and every change of type or active
 * flag) of a business queued for the same row, whose lock is held until commit, so everything a
 * transaction does after its counter update (its outbox event, completed at commit) lengthened
 * the queue of all the others. A customer always counts in its own slot, so no slot goes below
 * zero; readers sum the slots (db/customer-counts.ts). The rows are recounted from customers.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`lock table customers in share mode`.execute(db)
  await sql`delete from customer_counts`.execute(db)
  await sql`alter table customer_counts drop constraint customer_counts_pkey`.execute(db)
  await sql`alter table customer_counts add column slot smallint not null`.execute(db)
  await sql`insert into customer_counts (business_id, slot, customer_type, is_active, count)
    select business_id, (id % 16)::smallint, customer_type, is_active, count(*)
    from customers group by 1, 2, 3, 4`.execute(db)
  await sql`alter table customer_counts
    add primary key (business_id, slot, customer_type, is_active)`.execute(db)

  await sql`drop function customer_counts_add(bigint, text, boolean, bigint)`.execute(db)
  await sql`create function customer_counts_add(
      p_business_id bigint, p_slot smallint, p_customer_type text, p_is_active boolean,
      p_delta bigint)
    returns void language plpgsql as $$
  begin
    update customer_counts set count = count + p_delta
      where business_id = p_business_id and slot = p_slot and customer_type = p_customer_type
        and is_active = p_is_active;
    if not found then
      insert into customer_counts as c (business_id, slot, customer_type, is_active, count)
        values (p_business_id, p_slot, p_customer_type, p_is_active, p_delta)
        on conflict (business_id, slot, customer_type, is_active)
        do update set count = c.count + excluded.count;
    end if;
  end $$`.execute(db)

  // Net change per slot and group, applied in key order so that concurrent changes cannot
  // deadlock (2026-11-26T1000).
  await sql`create or replace function customer_counts_apply() returns trigger
    language plpgsql as $$
  declare
    m record;
  begin
    if tg_op = 'INSERT' then
      for m in select business_id, (id % 16)::smallint as slot, customer_type, is_active,
                 count(*) as delta
               from new_rows group by 1, 2, 3, 4 order by 1, 2, 3, 4 loop
        perform customer_counts_add(m.business_id, m.slot, m.customer_type, m.is_active,
          m.delta);
      end loop;
    elsif tg_op = 'DELETE' then
      for m in select business_id, (id % 16)::smallint as slot, customer_type, is_active,
                 -count(*) as delta
               from old_rows group by 1, 2, 3, 4 order by 1, 2, 3, 4 loop
        perform customer_counts_add(m.business_id, m.slot, m.customer_type, m.is_active,
          m.delta);
      end loop;
    else
      -- An update that moves no customer between groups writes nothing.
      for m in select business_id, slot, customer_type, is_active, sum(delta) as delta from (
                 select business_id, (id % 16)::smallint as slot, customer_type, is_active,
                   1 as delta from new_rows
                 union all
                 select business_id, (id % 16)::smallint, customer_type, is_active, -1
                 from old_rows
               ) changes group by 1, 2, 3, 4 having sum(delta) <> 0 order by 1, 2, 3, 4 loop
        perform customer_counts_add(m.business_id, m.slot, m.customer_type, m.is_active,
          m.delta);
      end loop;
    end if;
    return null;
  end $$`.execute(db)
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`lock table customers in share mode`.execute(db)
  await sql`drop function customer_counts_add(bigint, smallint, text, boolean, bigint)`.execute(db)
  await sql`create function customer_counts_add(
      p_business_id bigint, p_customer_type text, p_is_active boolean, p_delta bigint)
    returns void language plpgsql as $$
  begin
    update customer_counts set count = count + p_delta
      where business_id = p_business_id and customer_type = p_customer_type
        and is_active = p_is_active;
    if not found then
      insert into customer_counts as c (business_id, customer_type, is_active, count)
        values (p_business_id, p_customer_type, p_is_active, p_delta)
        on conflict (business_id, customer_type, is_active)
        do update set count = c.count + excluded.count;
    end if;
  end $$`.execute(db)
  await sql`create or replace function customer_counts_apply() returns trigger
    language plpgsql as $$
  declare
    m record;
  begin
    if tg_op = 'INSERT' then
      for m in select business_id, customer_type, is_active, count(*) as delta
               from new_rows group by 1, 2, 3 order by 1, 2, 3 loop
        perform customer_counts_add(m.business_id, m.customer_type, m.is_active, m.delta);
      end loop;
    elsif tg_op = 'DELETE' then
      for m in select business_id, customer_type, is_active, -count(*) as delta
               from old_rows group by 1, 2, 3 order by 1, 2, 3 loop
        perform customer_counts_add(m.business_id, m.customer_type, m.is_active, m.delta);
      end loop;
    else
      for m in select business_id, customer_type, is_active, sum(delta) as delta from (
                 select business_id, customer_type, is_active, 1 as delta from new_rows
                 union all
                 select business_id, customer_type, is_active, -1 from old_rows
               ) changes group by 1, 2, 3 having sum(delta) <> 0 order by 1, 2, 3 loop
        perform customer_counts_add(m.business_id, m.customer_type, m.is_active, m.delta);
      end loop;
    end if;
    return null;
  end $$`.execute(db)
  await sql`delete from customer_counts`.execute(db)
  await sql`alter table customer_counts drop constraint customer_counts_pkey`.execute(db)
  await sql`alter table customer_counts drop column slot`.execute(db)
  await sql`insert into customer_counts (business_id, customer_type, is_active, count)
    select business_id, customer_type, is_active, count(*) from customers group by 1, 2, 3`.execute(
    db,
  )
  await sql`alter table customer_counts
    add primary key (business_id, customer_type, is_active)`.execute(db)
}
