import { sql, type Kysely } from 'kysely'

/**
 * Exact customer counts per business, type and active flag, kept by statement-level triggers in
 * the same transaction as every change, so a list's `total` never counts a million rows.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`create table customer_counts (
    business_id bigint not null references businesses (id),
    customer_type text not null,
    is_active boolean not null,
    count bigint not null check (count >= 0),
    primary key (business_id, customer_type, is_active)
  )`.execute(db)

  // Net change per group: an update that moves no customer between groups writes nothing.
  await sql`create function customer_counts_apply() returns trigger language plpgsql as $$
  begin
    if tg_op = 'INSERT' then
      insert into customer_counts as c (business_id, customer_type, is_active, count)
        select business_id, customer_type, is_active, count(*) from new_rows group by 1, 2, 3
        on conflict (business_id, customer_type, is_active)
        do update set count = c.count + excluded.count;
    elsif tg_op = 'DELETE' then
      update customer_counts c set count = c.count - d.removed
        from (select business_id, customer_type, is_active, count(*) as removed
              from old_rows group by 1, 2, 3) d
        where c.business_id = d.business_id and c.customer_type = d.customer_type
          and c.is_active = d.is_active;
    else
      -- Decrements update rows that exist; only groups that gain customers may be new.
      with moves as (
        select business_id, customer_type, is_active, sum(delta) as delta from (
          select business_id, customer_type, is_active, 1 as delta from new_rows
          union all
          select business_id, customer_type, is_active, -1 from old_rows
        ) changes group by 1, 2, 3 having sum(delta) <> 0
      ), updated as (
        update customer_counts c set count = c.count + m.delta
        from moves m
        where c.business_id = m.business_id and c.customer_type = m.customer_type
          and c.is_active = m.is_active
        returning c.business_id, c.customer_type, c.is_active
      )
      insert into customer_counts as c (business_id, customer_type, is_active, count)
        select m.business_id, m.customer_type, m.is_active, m.delta from moves m
        where m.delta > 0 and not exists (
          select 1 from updated u where u.business_id = m.business_id
            and u.customer_type = m.customer_type and u.is_active = m.is_active)
        on conflict (business_id, customer_type, is_active)
        do update set count = c.count + excluded.count;
    end if;
    return null;
  end $$`.execute(db)

  await sql`create trigger customer_counts_on_insert after insert on customers
    referencing new table as new_rows
    for each statement execute function customer_counts_apply()`.execute(db)
  await sql`create trigger customer_counts_on_update after update on customers
    referencing old table as old_rows new table as new_rows
    for each statement execute function customer_counts_apply()`.execute(db)
  await sql`create trigger customer_counts_on_delete after delete on customers
    referencing old table as old_rows
    for each statement execute function customer_counts_apply()`.execute(db)

  await sql`insert into customer_counts (business_id, customer_type, is_active, count)
    select business_id, customer_type, is_active, count(*) from customers group by 1, 2, 3`.execute(
    db,
  )
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const trigger of ['insert', 'update', 'delete']) {
    await sql`drop trigger ${sql.raw(`customer_counts_on_${trigger}`)} on customers`.execute(db)
  }
  await sql`drop function customer_counts_apply()`.execute(db)
  await db.schema.dropTable('customer_counts').execute()
}
