import { sql, type Kysely } from 'kysely'

/**
 * Reversible merges: a merged customer points at the survivor, every sale remembers the customer
 * its event named (so an undo can give it back whenever it arrived), and each merge keeps what
 * it moved and filled.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table customers add column merged_into bigint,
    add constraint customers_merged_into_customer
      foreign key (business_id, merged_into) references customers (business_id, id),
    add constraint customers_merged_is_inactive check (merged_into is null or not is_active),
    add constraint customers_not_merged_into_itself check (merged_into <> id)`.execute(db)
  await sql`alter table customer_sales add column named_customer_id bigint`.execute(db)
  // Sales kept before this column: one with a customer the payer did not decide was named.
  await sql`update customer_sales set named_customer_id = customer_id
    where customer_id is not null and matched_by is null`.execute(db)
  await sql`create table customer_merges (
    id bigint generated always as identity,
    business_id bigint not null references businesses (id),
    target_id bigint not null,
    source_ids bigint[] not null check (cardinality(source_ids) between 1 and 10),
    moved jsonb not null,
    created_at timestamptz not null default now(),
    undone_at timestamptz,
    primary key (business_id, id),
    foreign key (business_id, target_id) references customers (business_id, id)
  )`.execute(db)
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop table customer_merges`.execute(db)
  await sql`alter table customer_sales drop column named_customer_id`.execute(db)
  await sql`alter table customers drop constraint customers_not_merged_into_itself,
    drop constraint customers_merged_is_inactive,
    drop constraint customers_merged_into_customer,
    drop column merged_into`.execute(db)
}
