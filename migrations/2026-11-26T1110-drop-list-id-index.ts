import { sql, type Kysely } from 'kysely'

/**
 * Listing by id walks the primary key (business_id, id) just as well: EXPLAIN on a seeded table
 * showed the planner never chose customers_list_id, which only cost every write.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`drop index if exists customers_list_id`.execute(db)
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`create index customers_list_id on customers (business_id, is_active, id)`.execute(db)
}
