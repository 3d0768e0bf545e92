import { sql, type Kysely } from 'kysely'

const COLUMNS = { name: 'lower(name)', email: 'lower(email)', phone: 'phone' } as const

/**
 * The search indexes led with business_id (btree_gin). GIN does not combine keys: every search
 * intersected the trigram postings with the business's posting list, a million entries in a
 * large business. Trigram-only indexes, with business_id checked on the few rows they find,
 * cut a phone-fragment search from 9 ms to 2.5 ms and a rare name from 1.5 ms to 0.1 ms on
 * 1M customers.
 */
export async function up(db: Kysely<any>): Promise<void> {
  for (const [field, expression] of Object.entries(COLUMNS)) {
    await sql`drop index if exists ${sql.ref(`customers_search_${field}`)}`.execute(db)
    await sql`create index ${sql.ref(`customers_search_${field}`)}
      on customers using gin ((${sql.raw(expression)}) gin_trgm_ops)`.execute(db)
  }
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const [field, expression] of Object.entries(COLUMNS)) {
    await sql`drop index if exists ${sql.ref(`customers_search_${field}`)}`.execute(db)
    await sql`create index ${sql.ref(`customers_search_${field}`)}
      on customers using gin (business_id, (${sql.raw(expression)}) gin_trgm_ops)`.execute(db)
  }
}
