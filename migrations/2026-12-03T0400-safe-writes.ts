import { sql, type Kysely } from 'kysely'

/**
 * Safe writes: a version on every customer (for ETag / If-Match) and the stored answers of
 * requests sent with an Idempotency-Key.
 */
export async function up(db: Kysely<any>): Promise<void> {
  // A constant default: PostgreSQL 11+ adds the column without rewriting the table.
  await sql`alter table customers
    add column version integer not null default 1 check (version >= 1)`.execute(db)

  // One row per (business, user, key). It is inserted when the request starts, in the
  // request's transaction, and completed with the answer in that same transaction, so a
  // committed row always holds an answer; status_code is null only while uncommitted.
  await sql`create table idempotency_keys (
    business_id bigint not null references businesses (id),
    user_sub bigint not null,
    key varchar(255) not null,
    method text not null,
    path text not null,
    body_sha256 char(64) not null,
    status_code smallint,
    response_body jsonb,
    response_headers jsonb not null default '{}',
    created_at timestamptz not null default now(),
    primary key (business_id, user_sub, key)
  )`.execute(db)
  // The purge finds expired keys in small batches through this index, never by a table scan.
  await sql`create index idempotency_keys_expiry on idempotency_keys (created_at)`.execute(db)
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('idempotency_keys').execute()
  await sql`alter table customers drop column version`.execute(db)
}
