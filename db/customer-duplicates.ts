import { sql, type RawBuilder } from 'kysely'
import { payerLockKey } from './customer-sales.js'
import type { DuplicateReason } from './database.js'
import type { Executor } from './executor.js'
import { executeFixedPlan } from './prepared-statements.js'

/** A pair as stored: lower id first, the score as its decimal text. */
export interface DuplicatePairRow {
  low_id: number
  high_id: number
  score: string
  reasons: DuplicateReason[]
}

/** One of a customer's candidates, as a refresh found it. */
export interface DuplicateOfRow {
  id: number
  score: string
  reasons: DuplicateReason[]
}

/**
 * A key shared by more customers than this (a shop's till number, a family e-mail) pairs nobody:
 * each lookup reads at most this many others plus one.
 */
export const MAX_SHARING = 51
/** Trigram similarity (pg_trgm, lower-cased names) from which two names count as similar. */
export const SIMILAR_NAME = 0.5

/** The score and reasons of two compared customers (columns same_phone, same_email, sim). */
const scoreOf = sql`round(case
    when same_phone and same_email then 0.98
    when same_phone then 0.95
    when same_email then 0.90
    else 0.30 + 0.30 * sim
  end + case when (same_phone or same_email) and sim >= ${sql.lit(SIMILAR_NAME)} then 0.02 * sim
    else 0 end, 2)`
const reasonsOf = sql`array_remove(array[
    case when same_phone then 'same_phone' end,
    case when same_email then 'same_email' end,
    case when sim >= ${sql.lit(SIMILAR_NAME)} then 'similar_name' end], null)`
const isCandidate = sql`(coalesce(same_phone, false) or coalesce(same_email, false)
  or sim >= ${sql.lit(SIMILAR_NAME)})`

/**
 * Advisory locks on the contact keys given, in one statement and in one order (so two writers
 * never wait on each other crosswise): a phone by its payer key (the lock the sales feed takes),
 * an e-mail by its lower case, the last 7 digits of a phone by themselves. Taken before the
 * refresh's statement starts, so it sees every writer of the same key that went before.
 */
export async function lockContactKeys(
  db: Executor,
  businessId: number,
  keys: { phoneSha256s: string[]; emails: string[]; tails: string[] },
): Promise<void> {
  const texts = [
    ...keys.phoneSha256s.map((sha256) => payerLockKey(businessId, sha256)),
    ...keys.tails.map((tail) => `tail:${businessId}:${tail}`),
  ]
  await sql`select count(pg_advisory_xact_lock(hashtextextended(k, 0))) from (
      select distinct k from unnest(${texts}::text[] || array(
        select 'email:' || ${String(businessId)}::text || ':' || lower(e)
        from unnest(${keys.emails}::text[]) e)) k
      order by k) keys`.execute(db)
}

/**
 * Recomputes the customer's pairs: finds the active customers that share its phone (through
 * customers_by_phone_sha256), its e-mail (customers_by_email) or the last 7 digits of its phone
 * (customers_by_phone_tail), at most MAX_SHARING per key, compares each with it, and makes its
 * stored pairs exactly those — none when it is inactive. One statement; returns the candidates.
 */
export async function refreshCustomerDuplicates(
  db: Executor,
  businessId: number,
  customerId: number,
): Promise<DuplicateOfRow[]> {
  const b = sql`${businessId}::bigint`
  const lookup = (condition: RawBuilder<unknown>) => sql`(
      select o.id from customers o
      where o.business_id = ${b} and ${condition} and o.is_active and o.id <> me.id
      order by o.id limit ${sql.lit(MAX_SHARING)})`
  const query = sql<DuplicateOfRow>`
    with me as (
      select id, phone, phone_sha256, email, name from customers
      where business_id = ${b} and id = ${customerId}::bigint and is_active
    ), found as (
      select 'phone' as kind, f.id from me cross join lateral ${lookup(
        sql`o.phone_sha256 = me.phone_sha256 and o.phone_sha256 is not null`,
      )} f
      union all
      select 'email', f.id from me cross join lateral ${lookup(
        sql`lower(o.email) = lower(me.email) and o.email is not null`,
      )} f
      union all
      select 'tail', f.id from me cross join lateral ${lookup(
        sql`right(o.phone, 7) = right(me.phone, 7) and o.phone is not null`,
      )} f
    ), candidates as (
      select distinct id from found
      where kind in (select kind from found group by kind having count(*) < ${sql.lit(MAX_SHARING)})
    ), compared as (
      select o.id, me.phone_sha256 = o.phone_sha256 as same_phone,
        lower(me.email) = lower(o.email) as same_email,
        similarity(lower(me.name), lower(o.name))::numeric as sim
      from me cross join candidates c
      join customers o on o.business_id = ${b} and o.id = c.id
    ), scored as (
      select id, ${scoreOf} as score, ${reasonsOf} as reasons from compared where ${isCandidate}
    ), removed as (
      delete from customer_duplicates d
      where d.business_id = ${b} and (d.low_id = ${customerId}::bigint or d.high_id = ${customerId}::bigint)
        and not exists (select 1 from scored s
          where s.id = case when d.low_id = ${customerId}::bigint then d.high_id else d.low_id end)
    ), written as (
      insert into customer_duplicates (business_id, low_id, high_id, score, reasons)
      select ${b}, least(id, ${customerId}::bigint), greatest(id, ${customerId}::bigint), score, reasons
      from scored
      on conflict (business_id, low_id, high_id) do update
        set score = excluded.score, reasons = excluded.reasons
        where (customer_duplicates.score, customer_duplicates.reasons)
          is distinct from (excluded.score, excluded.reasons)
    )
    select id, score, reasons from scored order by scored.score desc, id`
  return executeFixedPlan(db, query.compile(db))
}

/**
 * `refreshCustomerDuplicates` for many customers in one statement (an import's batch), by the
 * same lookups, scores and limits; two of them that pair with each other make one pair. Returns
 * each one's candidates (`me_id`: whose), best first. A statement of its own, not the one
 * above with a list of one: a single customer's refresh keeps the plan of a single key (with a
 * list its generic plan was twice as slow on a create).
 */
export async function refreshDuplicatesOfMany(
  db: Executor,
  businessId: number,
  customerIds: number[],
): Promise<(DuplicateOfRow & { me_id: number })[]> {
  const b = sql`${businessId}::bigint`
  const ids = sql`${customerIds}::bigint[]`
  const lookup = (condition: RawBuilder<unknown>) => sql`(
      select o.id from customers o
      where o.business_id = ${b} and ${condition} and o.is_active and o.id <> me.id
      order by o.id limit ${sql.lit(MAX_SHARING)})`
  const query = sql<DuplicateOfRow & { me_id: number }>`
    with me as (
      select id, phone, phone_sha256, email, name from customers
      where business_id = ${b} and id = any(${ids}) and is_active
    ), found as (
      select me.id as me_id, 'phone' as kind, f.id from me cross join lateral ${lookup(
        sql`o.phone_sha256 = me.phone_sha256 and o.phone_sha256 is not null`,
      )} f
      union all
      select me.id, 'email', f.id from me cross join lateral ${lookup(
        sql`lower(o.email) = lower(me.email) and o.email is not null`,
      )} f
      union all
      select me.id, 'tail', f.id from me cross join lateral ${lookup(
        sql`right(o.phone, 7) = right(me.phone, 7) and o.phone is not null`,
      )} f
    ), candidates as (
      select distinct me_id, id from found
      where (me_id, kind) in (select me_id, kind from found group by me_id, kind
        having count(*) < ${sql.lit(MAX_SHARING)})
    ), compared as (
      select c.me_id, o.id, me.phone_sha256 = o.phone_sha256 as same_phone,
        lower(me.email) = lower(o.email) as same_email,
        similarity(lower(me.name), lower(o.name))::numeric as sim
      from candidates c
      join me on me.id = c.me_id
      join customers o on o.business_id = ${b} and o.id = c.id
    ), scored as (
      select me_id, id, ${scoreOf} as score, ${reasonsOf} as reasons from compared
      where ${isCandidate}
    ), removed as (
      delete from customer_duplicates d
      where d.business_id = ${b} and (d.low_id = any(${ids}) or d.high_id = any(${ids}))
        and not exists (select 1 from scored s
          where s.me_id in (d.low_id, d.high_id) and s.id in (d.low_id, d.high_id))
    ), written as (
      insert into customer_duplicates (business_id, low_id, high_id, score, reasons)
      select distinct on (least(me_id, id), greatest(me_id, id))
        ${b}, least(me_id, id), greatest(me_id, id), score, reasons
      from scored
      order by least(me_id, id), greatest(me_id, id)
      on conflict (business_id, low_id, high_id) do update
        set score = excluded.score, reasons = excluded.reasons
        where (customer_duplicates.score, customer_duplicates.reasons)
          is distinct from (excluded.score, excluded.reasons)
    )
    select me_id, id, score, reasons from scored order by me_id, score desc, id`
  return executeFixedPlan(db, query.compile(db))
}

/**
 * The business's pairs (or, with `customerId`, those that include that customer) with a score
 * of at least `minScore`, best first: score descending, then low id, then high id; `after` is
 * the last pair of the previous page. The business's list is one range of
 * customer_duplicates_by_score (two with `after`: the rest of the last page's score, then the
 * lower scores); a customer's pairs come from the primary key and customer_duplicates_by_high_id.
 */
export async function listDuplicatePairs(
  db: Executor,
  businessId: number,
  query: {
    customerId?: number
    minScore: number
    limit: number
    after?: { score: string; lowId: number; highId: number }
  },
): Promise<DuplicatePairRow[]> {
  const { customerId, minScore, limit, after } = query
  const b = sql`${businessId}::bigint`
  const columns = sql`low_id, high_id, score, reasons`
  const order = sql`order by score desc, low_id, high_id`
  const whose =
    customerId === undefined
      ? sql`true`
      : sql`(low_id = ${customerId}::bigint or high_id = ${customerId}::bigint)`
  const minimum = sql`score >= ${minScore}::numeric`
  const built =
    after === undefined
      ? sql<DuplicatePairRow>`select ${columns} from customer_duplicates
          where business_id = ${b} and ${whose} and ${minimum} ${order} limit ${limit}`
      : sql<DuplicatePairRow>`select ${columns} from (
          (select * from customer_duplicates
            where business_id = ${b} and ${whose} and score = ${after.score}::numeric
              and (low_id, high_id) > (${after.lowId}::bigint, ${after.highId}::bigint)
            order by low_id, high_id limit ${limit})
          union all
          (select * from customer_duplicates
            where business_id = ${b} and ${whose} and score < ${after.score}::numeric and ${minimum}
            ${order} limit ${limit})
        ) page ${order} limit ${limit}`
  return executeFixedPlan(db, built.compile(db))
}

/**
 * Every pair of the business from scratch, set-based (the seed calls it after its bulk load):
 * the same keys, limit and score as a refresh.
 */
export async function rebuildDuplicates(db: Executor, businessId: number): Promise<number> {
  const b = sql`${businessId}::bigint`
  await sql`delete from customer_duplicates where business_id = ${b}`.execute(db)
  const result =
    await sql`insert into customer_duplicates (business_id, low_id, high_id, score, reasons)
    with keyed as (
      select c.id, k.kind, k.key, count(*) over (partition by k.kind, k.key) as sharing
      from customers c
      cross join lateral (values
        ('phone', encode(c.phone_sha256, 'hex')),
        ('email', lower(c.email)),
        ('tail', right(c.phone, 7))) k(kind, key)
      where c.business_id = ${b} and c.is_active and k.key is not null
    ), pairs as (
      select distinct a.id as low_id, b.id as high_id
      from keyed a join keyed b on b.kind = a.kind and b.key = a.key and b.id > a.id
      where a.sharing between 2 and ${sql.lit(MAX_SHARING)}
    ), compared as (
      select p.*, a.phone_sha256 = b.phone_sha256 as same_phone,
        lower(a.email) = lower(b.email) as same_email,
        similarity(lower(a.name), lower(b.name))::numeric as sim
      from pairs p
      join customers a on a.business_id = ${b} and a.id = p.low_id
      join customers b on b.business_id = ${b} and b.id = p.high_id
    )
    select ${b}, low_id, high_id, ${scoreOf}, ${reasonsOf} from compared where ${isCandidate}`.execute(
      db,
    )
  return Number(result.numAffectedRows ?? 0)
}
