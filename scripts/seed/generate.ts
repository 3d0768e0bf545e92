/**
 * Set-based generators of realistic data (generate_series, never row by row), shared by
 * `npm run seed` and the plan-pinning tests.
 */
import { sql, type Kysely } from 'kysely'
import { consentsFromFlags } from '../../db/customer-consents.js'
import type { Database } from '../../db/database.js'
import { historiesFromLedger } from '../../services/purchase-history.js'
import { FIRST_NAMES, LAST_NAMES, RARE_NAMES, STREETS, TOWNS } from './data.js'

export const CHUNK = 100_000
/** A text[] literal, parenthesised so that it can be subscripted. */
const textArray = (items: readonly string[]) =>
  sql`(array[${sql.join(items.map((item) => sql.lit(item)))}]::text[])`

/** Customers `count` of one business, in chunks; returns the id range they received. */
export async function insertCustomers(
  db: Kysely<Database>,
  business: number,
  count: number,
  tick: (n: number) => void,
) {
  const first = textArray(FIRST_NAMES)
  const last = textArray(LAST_NAMES)
  const streets = textArray(STREETS)
  const towns = textArray(TOWNS)
  let minId = Number.MAX_SAFE_INTEGER
  let maxId = 0
  for (let start = 0; start < count; start += CHUNK) {
    const size = Math.min(CHUNK, count - start)
    const { rows } = await sql<{ min: number; max: number }>`
      with inserted as (
        insert into customers (business_id, name, phone, email, address, customer_type, is_active,
          prefer_sms, prefer_email, prefer_call, created_at, updated_at)
        select ${business}, f || ' ' || l,
          case when g % 10 = 0 then '+2541' || (10 + g % 2)::text || lpad(((g * 7919) % 10000000)::text, 7, '0')
               else '+2547' || lpad(((g * 104729) % 100000000)::text, 8, '0') end,
          case when g % 4 = 0 then null else lower(f) || '.' || lower(l) || g || '@example.co.ke' end,
          case when g % 3 = 0 then null else (1 + g % 200)::text || ' ' || ${streets}[1 + g % array_length(${streets}, 1)] || ', ' || ${towns}[1 + (g / 7) % array_length(${towns}, 1)] end,
          (array['walk_in', 'walk_in', 'regular', 'regular', 'regular', 'vip', 'wholesale'])[1 + (g * 31) % 7],
          g % 33 <> 0,
          g % 5 <> 0, g % 4 = 0, g % 9 = 0,
          at, at
        from (
          select g,
            ${first}[1 + (g * 2654435761 % 4294967296) % array_length(${first}, 1)] as f,
            ${last}[1 + (g * 40503 % 65536) % array_length(${last}, 1)] as l,
            now() - make_interval(secs => (g * 7919 % 94608000)) as at
          from generate_series(${start + 1}::bigint, ${start + size}::bigint) g
        ) s
        returning id
      ) select min(id) as min, max(id) as max from inserted`.execute(db)
    const inserted = rows[0]
    if (!inserted) throw new Error('the customer insert returned no id range')
    minId = Math.min(minId, inserted.min)
    maxId = Math.max(maxId, inserted.max)
    tick(size)
  }
  return { minId, maxId }
}

export async function insertRareCustomers(db: Kysely<Database>, business: number): Promise<void> {
  // A few names that appear nowhere else, for the "rare name" search benchmark.
  await sql`insert into customers (business_id, name, phone, customer_type)
    select ${business}, n, '+25479' || lpad(i::text, 7, '0'), 'regular'
    from unnest(${textArray(RARE_NAMES)}) with ordinality as r(n, i)`.execute(db)
}

/**
 * Purchase history (computed from the ledger, so insert the sales first), preferences (whose
 * average_spend follows the history) and consent records of their flags (the flags then being
 * the ledger's views) of the customers from `minId` on.
 */
export async function insertDependents(
  db: Kysely<Database>,
  business: number,
  minId: number,
): Promise<void> {
  // Planned on what was loaded: unanalysed, the new tables look a few rows long and the
  // history's aggregate of the ledger runs once per customer (a 50,000-customer seed did not
  // finish in 18 minutes).
  await sql`analyze customers, customer_sales`.execute(db)
  await historiesFromLedger(db, business, minId)
  await sql`insert into customer_preferences (business_id, customer_id, favorite_products,
      preferred_payment, best_contact_time, do_not_contact, average_spend, created_at, updated_at)
    select c.business_id, c.id,
      case when c.id % 3 = 0 then array[(c.id % 500) + 1, (c.id % 97) + 1]::bigint[] else '{}' end,
      (array['cash', 'mpesa', 'mpesa', 'credit', null])[1 + c.id % 5],
      case when c.id % 4 = 0 then 'mornings' end,
      c.id % 50 = 0, h.avg_transaction_value, c.created_at, c.created_at
    from customers c
    join customer_purchase_history h on h.business_id = c.business_id and h.customer_id = c.id
    where c.business_id = ${business} and c.id >= ${minId}
      and not exists (select 1 from customer_preferences p
        where p.business_id = c.business_id and p.customer_id = c.id)`.execute(db)
  await consentsFromFlags(db, business, minId)
}

/** Sales skewed towards some customers, so that repeat and frequent customers exist. */
export async function insertSales(
  db: Kysely<Database>,
  business: number,
  range: { minId: number; maxId: number },
  count: number,
  tick: (n: number) => void,
): Promise<void> {
  const span = range.maxId - range.minId + 1
  for (let start = 0; start < count; start += CHUNK) {
    const size = Math.min(CHUNK, count - start)
    await sql`insert into customer_sales (business_id, sale_id, customer_id, total_amount, items_count,
        payment_method, completed_at, refunded_amount, voided)
      -- Zero-padded: ids in key order, so the primary key grows at its right edge.
      select ${business}, 'SEED-' || lpad(g::text, 10, '0'), ${range.minId} + floor(power(r, 3) * ${span})::bigint,
        amount, (1 + g % 9)::numeric, (array['cash', 'mpesa', 'mpesa', 'credit'])[1 + g % 4],
        now() - make_interval(secs => (g * 6007 % 63072000)),
        case when g % 20 = 0 then round(amount / 4, 2) else 0 end,
        g % 50 = 0
      from (select g, random() as r, round((50 + random() * 19950)::numeric, 2) as amount
            from generate_series(${start + 1}::bigint, ${start + size}::bigint) g) s`.execute(db)
    tick(size)
  }
}

export async function insertNotes(
  db: Kysely<Database>,
  business: number,
  range: { minId: number; maxId: number },
  count: number,
) {
  const span = range.maxId - range.minId + 1
  await sql`insert into customer_notes (business_id, customer_id, note_type, content, created_by, created_at, updated_at)
    select ${business}, ${range.minId} + (g * 7919) % ${span},
      (array['personal', 'preference', 'issue', 'feedback'])[1 + g % 4],
      (array['Prefers M-Pesa', 'Asks for delivery on Fridays', 'Complained about change given',
             'Loves the new bread', 'Pays on credit at month end'])[1 + g % 5],
      1 + g % 7, now() - make_interval(secs => g % 31536000), now() - make_interval(secs => g % 31536000)
    from generate_series(1, ${count}) g`.execute(db)
}

/**
 * Numbers the business's events in the feed, oldest first, as the delivery loop or a feed reader
 * would have as they committed: in one set-based statement (customer_events_sequence is planned
 * for the few events a round finds, one index probe each, minutes for a load's millions). And,
 * as its runs do, records where the next run starts (migration 2026-12-05T0100): the oldest
 * transaction running before the statement, so that run skips the entries this one leaves dead.
 */
export async function numberLoadedEvents(db: Kysely<Database>, business: number): Promise<void> {
  const { rows } = await sql<{ oldest_running: string }>`
    select pg_snapshot_xmin(pg_current_snapshot())::text as oldest_running`.execute(db)
  await sql`update customer_events e set position = numbered.position
    from (select waiting.id, nextval('customer_event_positions') as position
          from (select id from customer_events
                where business_id = ${business} and position is null order by id) waiting) numbered
    where e.business_id = ${business} and e.id = numbered.id`.execute(db)
  await sql`select customer_events_start_at(${business}::bigint,
    ${rows[0]?.oldest_running ?? '0'}::xid8)`.execute(db)
}
