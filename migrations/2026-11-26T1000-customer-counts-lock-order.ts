import { sql, type Kysely } from 'kysely'

/**
 * Two transactions that moved customers between the same two counter groups in opposite
 * directions (vip → regular and regular → vip) deadlocked. Each counter row that changes is
 * now updated in key order, so concurrent moves queue instead.
 */
export async function up(db: Kysely<any>): Promise<void> {
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

  await sql`create or replace function customer_counts_apply() returns trigger language plpgsql as $$
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
      -- Net change per group: an update that moves no customer between groups writes nothing.
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
}

export async function down(db: Kysely<any>): Promise<void> {
  // customer_counts_apply keeps this shape; rolling back 2026-11-26T0900 removes it.
  await sql`drop function customer_counts_add(bigint, text, boolean, bigint)`.execute(db)
}
