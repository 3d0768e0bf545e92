import { sql, type Kysely } from 'kysely'

/**
 * Bulk imports (POST /imports): the import and its counts, the file's rows staged until a batch
 * applies them, and the problems of the rows it rejected. A batch deletes the staged rows it
 * applied in the transaction that applies them and moves `processed` past them, so a restarted
 * job resumes after the last committed batch and never applies a row twice; a staged row never
 * outlives its import's run (no personal data kept aside from the customers it became).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`create table customer_imports (
    id bigint generated always as identity,
    business_id bigint not null references businesses (id),
    mode text not null check (mode in ('create', 'upsert')),
    dry_run boolean not null,
    status text not null default 'queued'
      check (status in ('queued', 'running', 'succeeded', 'failed')),
    columns text[] not null,
    rows integer not null check (rows >= 0),
    processed integer not null default 0,
    created integer not null default 0,
    updated integer not null default 0,
    skipped integer not null default 0,
    failed_rows integer not null default 0,
    created_by bigint not null,
    request_id text,
    created_at timestamptz not null default now(),
    started_at timestamptz,
    finished_at timestamptz,
    primary key (business_id, id),
    check (processed = created + updated + skipped + failed_rows and processed <= rows)
  )`.execute(db)
  await sql`create table customer_import_rows (
    business_id bigint not null,
    import_id bigint not null,
    row_number integer not null,
    cells text[] not null,
    primary key (business_id, import_id, row_number),
    foreign key (business_id, import_id) references customer_imports (business_id, id)
      on delete cascade
  )`.execute(db)
  await sql`create table customer_import_errors (
    business_id bigint not null,
    import_id bigint not null,
    row_number integer not null,
    position smallint not null,
    "column" text not null,
    message text not null,
    primary key (business_id, import_id, row_number, position),
    foreign key (business_id, import_id) references customer_imports (business_id, id)
      on delete cascade
  )`.execute(db)
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop table customer_import_errors`.execute(db)
  await sql`drop table customer_import_rows`.execute(db)
  await sql`drop table customer_imports`.execute(db)
}
