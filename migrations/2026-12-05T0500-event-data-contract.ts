import { sql, type Kysely } from 'kysely'

/**
 * The contract step of 2026-12-04T2200's expand, first half: the events written before it, which
 * keep their JSON in `data`, get the typed snapshots every later event has, and `data` is
 * emptied. The feed's readers and the erasure's scrub then know one form.
 *
 * The column itself stays until a later release: instances of the release before this one read
 * `data` when an event has no snapshots (`case … else data end`), and a rolling deploy runs them
 * beside the new one after this migration; with the snapshots in place they never reach it.
 *
 * The JSON was built from the same values with the same keys as the snapshots' fields
 * (2026-12-03T1500's customer_event_data, customer_event_json's twin), so `jsonb_populate_record`
 * turns it back into them. Nothing is converted on trust: before anything is written, every JSON
 * event must give back, converted and through customer_event_json (what the feed shows), the
 * JSON it kept, to the character; and every event must have one form or the other. An event
 * that does not stops the migration, which then changes nothing.
 *
 * The events table is a few days old where this runs, so one statement converts the old events
 * under the migrator's transaction (row locks on those events only); on a table with millions of
 * JSON events this would want batches outside it.
 */
export async function up(db: Kysely<any>): Promise<void> {
  // Checked before anything is written, so a refusal leaves every event as it was. (A case, so
  // that JSON which is not an object never reaches jsonb_populate_record.)
  const { rows } = await sql<{ business_id: string; id: string }>`
    select business_id, id from customer_events
    where case
      when data is null then (customer_snapshot).id is null
      when jsonb_typeof(data) <> 'object' then true
      else data::text is distinct from
        customer_event_json(${CUSTOMER}, ${PREFERENCES}, ${HISTORY})::text end
    order by business_id, id limit 5`.execute(db)
  if (rows.length > 0) {
    const events = rows.map((row) => `${row.business_id}/${row.id}`).join(', ')
    throw new Error(
      `event data contract: events ${events} (business/id) have no snapshots and no JSON that converts to snapshots showing the same; nothing was changed`,
    )
  }
  await sql`update customer_events
    set customer_snapshot = ${CUSTOMER}, preferences_snapshot = ${PREFERENCES},
      history_snapshot = ${HISTORY}, data = null
    where data is not null`.execute(db)
  await scrub(db, '')
}

/**
 * The scrub again covers JSON events, as 2026-12-04T2200 wrote it; the converted events keep
 * their snapshots, which 2026-12-04T2200's readers take first.
 */
export async function down(db: Kysely<any>): Promise<void> {
  await scrub(db, SCRUB_JSON)
}

/** The snapshots an event's JSON holds (its keys are their fields; JSON null is no row). */
const CUSTOMER = sql`jsonb_populate_record(null::customer_event_customer, data)`
const PREFERENCES = sql`case when jsonb_typeof(data -> 'preferences') = 'object'
  then jsonb_populate_record(null::customer_event_preferences, data -> 'preferences') end`
const HISTORY = sql`case when jsonb_typeof(data -> 'history') = 'object'
  then jsonb_populate_record(null::customer_event_history, data -> 'history') end`

/**
 * customer_events_scrub: an erasure's values replace those of the customer's earlier events'
 * snapshots, then `more` runs (the JSON events' scrub, on the way down).
 */
async function scrub(db: Kysely<any>, more: string): Promise<void> {
  await sql`create or replace function customer_events_scrub(business bigint,
      erased_event bigint) returns void language plpgsql as $$
    declare
      erased customer_events;
    begin
      select * into erased from customer_events e
        where e.business_id = business and e.id = erased_event;
      update customer_events earlier set
          customer_snapshot.name = (erased.customer_snapshot).name,
          customer_snapshot.phone = (erased.customer_snapshot).phone,
          customer_snapshot.email = (erased.customer_snapshot).email,
          customer_snapshot.address = (erased.customer_snapshot).address
        where earlier.business_id = business and earlier.customer_id = erased.customer_id
          and earlier.id <> erased.id and (earlier.customer_snapshot).id is not null;
      update customer_events earlier set
          preferences_snapshot.best_contact_time = (erased.preferences_snapshot).best_contact_time
        where earlier.business_id = business and earlier.customer_id = erased.customer_id
          and earlier.id <> erased.id and (earlier.preferences_snapshot).id is not null;
      ${sql.raw(more)}
    end $$`.execute(db)
}

/** 2026-12-04T2200's scrub of the events that hold their data as JSON. */
const SCRUB_JSON = `update customer_events earlier set data = earlier.data
          || jsonb_build_object('name', (erased.customer_snapshot).name,
            'phone', (erased.customer_snapshot).phone, 'email', (erased.customer_snapshot).email,
            'address', (erased.customer_snapshot).address)
          || case when earlier.data -> 'preferences' = 'null'::jsonb then '{}'::jsonb
            else jsonb_build_object('preferences', jsonb_set(earlier.data -> 'preferences',
              '{best_contact_time}',
              coalesce(to_jsonb((erased.preferences_snapshot).best_contact_time),
                'null'::jsonb))) end
        where earlier.business_id = business and earlier.customer_id = erased.customer_id
          and earlier.data is not null;`
