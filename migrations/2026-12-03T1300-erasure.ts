import { sql, type Kysely } from 'kysely'

/**
 * Erasure (Kenya Data Protection Act 2019): an erased customer keeps its row (the shop's books
 * keep their sales) with `erased_at`, and is never active again (the erasure names its change
 * `erased` in the change history itself).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table customers add column erased_at timestamptz,
    add constraint customers_erased_is_inactive check (erased_at is null or not is_active)`.execute(
    db,
  )
  // Erased is final: no write changes the row again (SQLSTATE PE409, answered 409). The one
  // mechanism behind every write path that touches the row: update, delete, preferences,
  // consents (they add one to its version), merge and undo.
  await sql`create function customers_erased_are_final() returns trigger
    language plpgsql as $$
    begin
      if old.erased_at is not null then
        raise exception 'customer % of business % is erased', old.id, old.business_id
          using errcode = 'PE409';
      end if;
      return new;
    end $$`.execute(db)
  await sql`create trigger customers_erased_are_final before update on customers
    for each row execute function customers_erased_are_final()`.execute(db)
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop trigger customers_erased_are_final on customers`.execute(db)
  await sql`drop function customers_erased_are_final()`.execute(db)
  await sql`alter table customers drop constraint customers_erased_is_inactive,
    drop column erased_at`.execute(db)
}
