import { sql, type Kysely } from 'kysely'

export async function up(db: Kysely<any>): Promise<void> {
  // One row per reported sale: the source of truth the purchase-history row is computed from.
  // A refund or void may arrive before its completion, so the completion fields start empty.
  await sql`create table customer_sales (
    business_id bigint not null,
    sale_id varchar(100) not null,
    customer_id bigint not null,
    total_amount numeric(12, 2) check (total_amount >= 0),
    items_count numeric(12, 3) check (items_count >= 0),
    payment_method text check (payment_method in ('cash', 'mpesa', 'credit')),
    completed_at timestamptz,
    refunded_amount numeric(12, 2) not null default 0 check (refunded_amount >= 0),
    voided boolean not null default false,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    primary key (business_id, sale_id),
    foreign key (business_id, customer_id) references customers (business_id, id)
  )`.execute(db)
  await sql`create index customer_sales_by_customer
    on customer_sales (business_id, customer_id, completed_at, sale_id)`.execute(db)

  // Every event id whose effect was committed; a redelivery finds its id here.
  await sql`create table sales_events (
    business_id bigint not null,
    event_id varchar(200) not null,
    event_type text not null,
    sale_id varchar(100) not null,
    outcome text not null,
    received_at timestamptz not null default now(),
    primary key (business_id, event_id),
    foreign key (business_id) references businesses (id)
  )`.execute(db)

  // Repeat customers by spend, per business.
  await sql`create index customer_purchase_history_repeat
    on customer_purchase_history (business_id, total_spent desc, customer_id)
    where total_purchases >= 2`.execute(db)
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index customer_purchase_history_repeat`.execute(db)
  await db.schema.dropTable('sales_events').execute()
  await db.schema.dropTable('customer_sales').execute()
}
