import { sql, type Kysely } from 'kysely'

/**
 * Consents in the change history: a record that changes a pair's status is a field of its
 * transaction's change, `consent:<channel>:<purpose>` from the status before (null: none) to
 * the new one. After the ledger's backfill, so the backfill writes no history.
 */
export async function up(db: Kysely<any>): Promise<void> {
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

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop trigger customer_changes_of_consents on customer_consents`.execute(db)
  await sql`drop function customer_change_record_consent()`.execute(db)
}
