import { sql, type Kysely } from 'kysely'
import type { Database } from '../db/database.js'
import { toE164 } from '../lib/phone.js'
import type { Fixture } from './scenarios.js'

/**
 * The per-customer scenarios (get, metrics, history, patch, notes, webhook) spread their
 * requests over this many distinct active customers, so that "webhook, distinct customers"
 * really is distinct at 20 connections and no read is served by a handful of hot rows. It is
 * also the least the bench runs on.
 */
export const MIN_ACTIVE_CUSTOMERS = 5_000

/** Past this offset lies the deep-page scenario's page; with fewer customers it reads nothing. */
export const DEEP_PAGE_CUSTOMERS = 100_020

/** A seed that gives MIN_ACTIVE_CUSTOMERS comfortably (the seed leaves 1 in 33 inactive). */
export const seedCommand = (businessId: number) =>
  `npm run seed -- --customers 20000 --business ${businessId}`

/** The seed behind the figures in bench/results/latest.md. */
export const PUBLISHED_SEED =
  'npm run seed -- --customers 1000000 --business 5 --sales 3000000 --businesses 20'

export class NotEnoughData extends Error {}

async function activeCustomers(db: Kysely<Database>, businessId: number): Promise<number> {
  // The counters kept by triggers: no count(*) over a million rows.
  const row = await db
    .selectFrom('customer_counts')
    .select((eb) => eb.fn.sum<string>('count').as('n'))
    .where('business_id', '=', businessId)
    .where('is_active', '=', true)
    .executeTakeFirst()
  return Number(row?.n ?? 0)
}

/**
 * The customers the scenarios act on: MIN_ACTIVE_CUSTOMERS drawn at random from the business's
 * active customers (how many it has: `active`). Throws NotEnoughData, naming the minimum and the
 * seed that gives it, when the business has fewer.
 */
export async function loadFixture(
  db: Kysely<Database>,
  businessId: number,
  webhookSecret: string,
): Promise<{ fixture: Fixture; active: number }> {
  const active = await activeCustomers(db, businessId)
  if (active < MIN_ACTIVE_CUSTOMERS) {
    throw new NotEnoughData(
      `the bench needs at least ${MIN_ACTIVE_CUSTOMERS.toLocaleString('en')} active customers in business ${businessId}, and it has ${active.toLocaleString('en')}: on an empty database, ${seedCommand(businessId)}`,
    )
  }
  // Row sampling at twice the share needed, so the limit, not chance, decides the count.
  const percent = Math.min(100, (200 * MIN_ACTIVE_CUSTOMERS) / active)
  const { rows } = await sql<{ id: string; phone: string | null; email: string | null }>`
    select id, phone, email from customers tablesample bernoulli (${sql.lit(percent)})
    where business_id = ${businessId} and is_active
    limit ${MIN_ACTIVE_CUSTOMERS}`.execute(db)
  const fixture: Fixture = {
    businessId,
    customerIds: rows.map((row) => Number(row.id)),
    phoneFragments: rows.flatMap((row) => (row.phone ? [row.phone.slice(6, 13)] : [])),
    // The seed writes numbers without checking them; a payer must be a valid one.
    customerPhones: rows.flatMap((row) =>
      row.phone && toE164(row.phone, 'KE') === row.phone ? [row.phone] : [],
    ),
    emailFragments: rows.flatMap((row) =>
      row.email ? [row.email.slice(1, row.email.indexOf('@'))] : [],
    ),
    webhookSecret,
    busyCustomerId: Number(rows[0]?.id),
  }
  return { fixture, active }
}
