import { sql, type Kysely } from 'kysely'

/**
 * Erasure (Kenya Data Protection Act 2019): an erased customer keeps its row (the shop's books
 * keep their sales) with `erased_at`, and is never active again. The change-history trigger
 * names the change `erased` when this column is set.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table customers add column erased_at timestamptz,
    add constraint customers_erased_is_inactive check (erased_at is null or not is_active)`.execute(
    db,
  )
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table customers drop constraint customers_erased_is_inactive,
    drop column erased_at`.execute(db)
}
