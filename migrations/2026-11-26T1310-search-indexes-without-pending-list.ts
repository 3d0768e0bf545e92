import { sql, type Kysely } from 'kysely'

const SEARCH_INDEXES = [
  'customers_search_name',
  'customers_search_email',
  'customers_search_phone',
  'customers_search_digits',
] as const

/**
 * GIN's fast update queues new entries in a pending list that every search reads in full until
 * a vacuum merges it, and autovacuum comes after 20 % of a million rows have been inserted. On
 * the benchmark business, a few thousand new or edited customers (3,565 queued entries) took a
 * rare-name search from 0.1 ms to 5 ms and a phone fragment from 0.1 ms to 25 ms. Without the
 * list each write updates the index itself: slower writes, searches that stay fast. The list
 * already queued is merged now.
 */
export async function up(db: Kysely<any>): Promise<void> {
  for (const index of SEARCH_INDEXES) {
    await sql`alter index ${sql.ref(index)} set (fastupdate = off)`.execute(db)
    await sql`select gin_clean_pending_list(${index}::regclass)`.execute(db)
  }
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const index of SEARCH_INDEXES) {
    await sql`alter index ${sql.ref(index)} reset (fastupdate)`.execute(db)
  }
}
