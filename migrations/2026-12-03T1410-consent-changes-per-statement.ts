import { sql, type Kysely } from 'kysely'

/**
 * Consents in the change history, a statement at a time: the records one insert appends (a new
 * customer's five, an import batch's thousands) become one merge into each customer's change,
 * instead of one per record. Same result as 2026-12-03T1260's row trigger: a record that changes
 * a pair's status is the field `consent:<channel>:<purpose>`, from the status before the first
 * such record (null: none) to the status of the last.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`drop trigger customer_changes_of_consents on customer_consents`.execute(db)
  await sql`drop function customer_change_record_consent()`.execute(db)
  await sql`create function customer_change_record_consents() returns trigger
    language plpgsql as $$
    begin
      perform customer_change_add(c.business_id, c.customer_id, 'updated', c.fields)
      from (
        select business_id, customer_id,
          jsonb_object_agg('consent:' || channel || ':' || purpose,
            jsonb_build_object('from', first_from, 'to', last_to)) as fields
        from (
          select business_id, customer_id, channel, purpose,
            (array_agg(previous order by id))[1] as first_from,
            (array_agg(status order by id desc))[1] as last_to
          from (
            select n.business_id, n.customer_id, n.channel, n.purpose, n.id, n.status,
              (select p.status from customer_consents p
                where p.business_id = n.business_id and p.customer_id = n.customer_id
                  and p.channel = n.channel and p.purpose = n.purpose and p.id < n.id
                order by p.id desc limit 1) as previous
            from new_rows n
          ) records
          where previous is distinct from status
          group by business_id, customer_id, channel, purpose
        ) pairs
        group by business_id, customer_id
      ) c;
      return null;
    end $$`.execute(db)
  await sql`create trigger customer_changes_of_consents
    after insert on customer_consents referencing new table as new_rows
    for each statement execute function customer_change_record_consents()`.execute(db)
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop trigger customer_changes_of_consents on customer_consents`.execute(db)
  await sql`drop function customer_change_record_consents()`.execute(db)
  await sql`create function customer_change_record_consent() returns trigger
    language plpgsql as $$
    declare
      previous text;
    begin
      select status into previous from customer_consents
        where business_id = new.business_id and customer_id = new.customer_id
          and channel = new.channel and purpose = new.purpose and id < new.id
        order by id desc limit 1;
      if previous is not distinct from new.status then return null; end if;
      perform customer_change_add(new.business_id, new.customer_id, 'updated',
        jsonb_build_object('consent:' || new.channel || ':' || new.purpose,
          jsonb_build_object('from', previous, 'to', new.status)));
      return null;
    end $$`.execute(db)
  await sql`create trigger customer_changes_of_consents
    after insert on customer_consents
    for each row execute function customer_change_record_consent()`.execute(db)
}
