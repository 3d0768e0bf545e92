import { sql, type Kysely } from 'kysely'

/**
 * Sales attribution from M-Pesa. Every sale is kept in the ledger, whoever it belongs to: a sale
 * with no customer yet (`customer_id` null) waits there, under its payer's hash, for the customer
 * who later registers that phone.
 */
export async function up(db: Kysely<any>): Promise<void> {
  // The payer's phone arrives as a number or as the SHA-256 of its E.164 digits (M-Pesa hides
  // the number that way). The database keeps each customer's hash itself, so no write path can
  // forget it. E.164 is '+' and digits: decoding the digits as 'escape' gives their bytes.
  await sql`alter table customers add column phone_sha256 bytea
    generated always as (sha256(decode(substr(phone, 2), 'escape'))) stored`.execute(db)
  // A payer's customer in one lookup: the oldest active customer with that hash.
  await sql`create index customers_by_phone_sha256
    on customers (business_id, phone_sha256, id)
    where is_active and phone_sha256 is not null`.execute(db)

  await sql`alter table customer_sales alter column customer_id drop not null`.execute(db)
  await sql`alter table customer_sales
    add column payer_phone varchar(20),
    add column payer_phone_sha256 bytea check (octet_length(payer_phone_sha256) = 32),
    add column matched_by text check (matched_by in ('phone', 'phone_sha256')),
    add constraint customer_sales_matched_needs_payer
      check (matched_by is null or payer_phone_sha256 is not null)`.execute(db)
  // The unattributed sales a newly registered phone takes, found through this index only.
  await sql`create index customer_sales_unattributed
    on customer_sales (business_id, payer_phone_sha256)
    where customer_id is null and payer_phone_sha256 is not null`.execute(db)
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index customer_sales_unattributed`.execute(db)
  await sql`delete from customer_sales where customer_id is null`.execute(db)
  await sql`alter table customer_sales
    drop constraint customer_sales_matched_needs_payer,
    drop column matched_by,
    drop column payer_phone_sha256,
    drop column payer_phone`.execute(db)
  await sql`alter table customer_sales alter column customer_id set not null`.execute(db)
  await sql`drop index customers_by_phone_sha256`.execute(db)
  await sql`alter table customers drop column phone_sha256`.execute(db)
}
