import { sql, type Kysely } from 'kysely'

/**
 * Webhook endpoints of a business and the log of their delivery attempts. An endpoint receives
 * the business's events (customer_events) of the types it lists, in feed order, from the position
 * it had reached (`delivered_position`: at registration, and again at re-enabling, the end of the
 * feed then — what it missed while disabled is not replayed; the feed has it).
 *
 * `secret` signs the deliveries (HMAC-SHA256, as the sales feed is signed), so it is kept as
 * given out; it is shown once, at registration, and never read back by the API.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`create table webhook_endpoints (
    id bigint generated always as identity,
    business_id bigint not null,
    url text not null check (length(url) <= 2048),
    events text[] not null check (cardinality(events) between 1 and 9),
    enabled boolean not null default true,
    secret text not null,
    delivered_position bigint not null default 0,
    -- The event after delivered_position has failed since then; retried from next_attempt_at.
    failing_since timestamptz,
    next_attempt_at timestamptz,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    primary key (business_id, id)
  )`.execute(db)

  await sql`create table webhook_deliveries (
    id bigint generated always as identity,
    business_id bigint not null,
    endpoint_id bigint not null,
    event_id bigint not null,
    attempt integer not null check (attempt >= 1),
    status_code integer,
    error text,
    duration_ms integer not null check (duration_ms >= 0),
    at timestamptz not null default now(),
    primary key (business_id, id),
    foreign key (business_id, endpoint_id) references webhook_endpoints (business_id, id)
      on delete cascade
  )`.execute(db)
  await sql`create index webhook_deliveries_of_endpoint
    on webhook_deliveries (business_id, endpoint_id, id)`.execute(db)
  await sql`create index webhook_deliveries_of_event
    on webhook_deliveries (business_id, endpoint_id, event_id)`.execute(db)
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop table webhook_deliveries`.execute(db)
  await sql`drop table webhook_endpoints`.execute(db)
}
