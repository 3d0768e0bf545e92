import { sql, type Kysely } from 'kysely'

const timestamps = sql`created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()`

export async function up(db: Kysely<any>): Promise<void> {
  await sql`create extension if not exists pg_trgm`.execute(db)
  await sql`create extension if not exists btree_gin`.execute(db)

  // The auth service is the authority on businesses; a row appears on first use of its id.
  await sql`create table businesses (
    id bigint primary key check (id > 0),
    country char(2) not null default 'KE',
    created_at timestamptz not null default now()
  )`.execute(db)

  // Every table keys on (business_id, id) and child rows reference (business_id, customer_id),
  // so the schema itself refuses a row that points at another business's customer.
  await sql`create table customers (
    id bigint generated always as identity,
    business_id bigint not null references businesses (id),
    name varchar(255) not null check (length(name) between 1 and 255),
    phone varchar(20),
    email varchar(255),
    address varchar(500),
    customer_type text not null default 'walk_in'
      check (customer_type in ('walk_in', 'regular', 'vip', 'wholesale')),
    is_active boolean not null default true,
    prefer_sms boolean not null default true,
    prefer_email boolean not null default false,
    prefer_call boolean not null default false,
    ${timestamps},
    primary key (business_id, id)
  )`.execute(db)

  await sql`create table customer_notes (
    id bigint generated always as identity,
    business_id bigint not null,
    customer_id bigint not null,
    note_type text not null default 'personal'
      check (note_type in ('personal', 'preference', 'issue', 'feedback')),
    content varchar(2000) not null check (length(content) between 1 and 2000),
    created_by bigint not null,
    ${timestamps},
    primary key (business_id, id),
    foreign key (business_id, customer_id) references customers (business_id, id)
  )`.execute(db)

  await sql`create table customer_preferences (
    id bigint generated always as identity,
    business_id bigint not null,
    customer_id bigint not null,
    favorite_products bigint[] not null default '{}'
      check (cardinality(favorite_products) <= 100),
    preferred_payment text check (preferred_payment in ('cash', 'mpesa', 'credit')),
    average_spend numeric(12, 2) not null default 0,
    best_contact_time varchar(100),
    do_not_contact boolean not null default false,
    can_receive_offers boolean not null default true,
    can_receive_loyalty boolean not null default true,
    ${timestamps},
    primary key (business_id, id),
    unique (business_id, customer_id),
    foreign key (business_id, customer_id) references customers (business_id, id)
  )`.execute(db)

  await sql`create table customer_purchase_history (
    id bigint generated always as identity,
    business_id bigint not null,
    customer_id bigint not null,
    total_purchases integer not null default 0 check (total_purchases >= 0),
    total_spent numeric(12, 2) not null default 0,
    total_items_bought numeric(12, 3) not null default 0,
    avg_transaction_value numeric(12, 2) not null default 0,
    first_purchase_date timestamptz,
    last_purchase_date timestamptz,
    is_repeat_customer boolean not null default false,
    repeat_frequency text not null default 'new'
      check (repeat_frequency in ('new', 'one_time', 'occasional', 'regular', 'frequent')),
    customer_lifetime_value numeric(12, 2) not null default 0,
    ${timestamps},
    primary key (business_id, id),
    unique (business_id, customer_id),
    foreign key (business_id, customer_id) references customers (business_id, id)
  )`.execute(db)

  // One index per list sort (ties broken by id), and trigram indexes for substring search.
  await sql`create index customers_list_created_at
    on customers (business_id, is_active, created_at, id)`.execute(db)
  await sql`create index customers_list_name
    on customers (business_id, is_active, (lower(name)), id)`.execute(db)
  await sql`create index customers_list_id on customers (business_id, is_active, id)`.execute(db)
  await sql`create index customers_search_name
    on customers using gin (business_id, lower(name) gin_trgm_ops)`.execute(db)
  await sql`create index customers_search_email
    on customers using gin (business_id, lower(email) gin_trgm_ops)`.execute(db)
  await sql`create index customers_search_phone
    on customers using gin (business_id, phone gin_trgm_ops)`.execute(db)
  await sql`create index customer_notes_by_customer
    on customer_notes (business_id, customer_id, created_at, id)`.execute(db)
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of [
    'customer_purchase_history',
    'customer_preferences',
    'customer_notes',
    'customers',
    'businesses',
  ]) {
    await db.schema.dropTable(table).execute()
  }
}
