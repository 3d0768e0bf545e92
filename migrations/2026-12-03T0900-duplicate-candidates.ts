import { sql, type Kysely } from 'kysely'

/**
 * Duplicate candidates: pairs of active customers that are probably one person, kept by every
 * customer write in its own transaction so that listing them is one index scan. A pair names
 * its customers lower id first.
 */
export async function up(db: Kysely<any>): Promise<void> {
  // No references to customers: customers are never deleted, and a pair of a customer that
  // stops being active is removed by the same write.
  await sql`create table customer_duplicates (
    business_id bigint not null,
    low_id bigint not null,
    high_id bigint not null,
    score numeric(3, 2) not null check (score > 0 and score <= 1),
    reasons text[] not null check (cardinality(reasons) between 1 and 3),
    primary key (business_id, low_id, high_id),
    check (low_id < high_id)
  )`.execute(db)
  // The business's list, best first; the primary key finds a customer's pairs as the lower id,
  // this one as the higher.
  await sql`create index customer_duplicates_by_score
    on customer_duplicates (business_id, score desc, low_id, high_id)`.execute(db)
  await sql`create index customer_duplicates_by_high_id
    on customer_duplicates (business_id, high_id)`.execute(db)
  // The lookups of a refresh: same e-mail, and the cheap key similar names are compared within
  // (the last 7 digits of the phone). Same phone goes through customers_by_phone_sha256.
  await sql`create index customers_by_email
    on customers (business_id, lower(email), id)
    where is_active and email is not null`.execute(db)
  await sql`create index customers_by_phone_tail
    on customers (business_id, right(phone, 7), id)
    where is_active and phone is not null`.execute(db)

  // The pairs of the data already there, set-based. A copy of db/customer-duplicates.ts
  // rebuildDuplicates as it stood when this was written (migrations are frozen history).
  await sql`insert into customer_duplicates (business_id, low_id, high_id, score, reasons)
    with keyed as (
      select c.business_id, c.id, k.kind, k.key,
        count(*) over (partition by c.business_id, k.kind, k.key) as sharing
      from customers c
      cross join lateral (values
        ('phone', encode(c.phone_sha256, 'hex')),
        ('email', lower(c.email)),
        ('tail', right(c.phone, 7))) k(kind, key)
      where c.is_active and k.key is not null
    ), pairs as (
      select distinct a.business_id, a.id as low_id, b.id as high_id
      from keyed a
      join keyed b on b.business_id = a.business_id and b.kind = a.kind and b.key = a.key
        and b.id > a.id
      where a.sharing between 2 and 51
    ), compared as (
      select p.*, a.phone_sha256 = b.phone_sha256 as same_phone,
        lower(a.email) = lower(b.email) as same_email,
        similarity(lower(a.name), lower(b.name))::numeric as sim
      from pairs p
      join customers a on a.business_id = p.business_id and a.id = p.low_id
      join customers b on b.business_id = p.business_id and b.id = p.high_id
    )
    select business_id, low_id, high_id,
      round(case
        when same_phone and same_email then 0.98
        when same_phone then 0.95
        when same_email then 0.90
        else 0.30 + 0.30 * sim
      end + case when (same_phone or same_email) and sim >= 0.5 then 0.02 * sim else 0 end, 2),
      array_remove(array[
        case when same_phone then 'same_phone' end,
        case when same_email then 'same_email' end,
        case when sim >= 0.5 then 'similar_name' end], null)
    from compared
    where coalesce(same_phone, false) or coalesce(same_email, false) or sim >= 0.5`.execute(db)
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index customers_by_phone_tail`.execute(db)
  await sql`drop index customers_by_email`.execute(db)
  await sql`drop table customer_duplicates`.execute(db)
}
