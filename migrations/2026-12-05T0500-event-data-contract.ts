import { sql, type Kysely } from 'kysely'

/**
 * The contract step of 2026-12-04T2200's expand, first half: the events written before it, which
 * keep their JSON in `data`, get the typed snapshots every later event has, and `data` is
 * emptied. The feed's readers then know one form.
 *
 * The column itself stays until a later release: instances of the release before this one read
 * `data` when an event has no snapshots (`case … else data end`), and a rolling deploy runs them
 * beside the new one after this migration; with the snapshots in place they never reach it.
 * customer_events_scrub's JSON branch (2026-12-04T2200) goes with the column: until then it
 * finds no JSON event to scrub.
 *
 * The JSON was built from the same values with the same keys as the snapshots' fields
 * (2026-12-03T1500's customer_event_data, customer_event_json's twin), so `jsonb_populate_record`
 * turns it back into them. Nothing is converted on trust: before anything is written, every JSON
 * event must give back, converted and through customer_event_json (what the feed shows), the
 * JSON it kept, to the character; and every event must have one form or the other. An event
 * that does not (a value its field's type refuses, such as a version of 1.5, included) stops the
 * migration, named, and the migration then changes nothing.
 *
 * The events table is a few days old where this runs, so one statement converts the old events
 * under the migrator's transaction (row locks on those events only); on a table with millions of
 * JSON events this would want batches outside it.
 */
export async function up(db: Kysely<any>): Promise<void> {
  // Checked before anything is written, so a refusal leaves every event as it was. A value
  // that its field's type refuses is a refusal of that event, not an error that names none.
  await sql`create or replace function pg_temp.event_data_reads_alike(data jsonb) returns boolean
    language plpgsql as $$
    begin
      -- A case, so that JSON which is not an object never reaches jsonb_populate_record.
      return case when jsonb_typeof(data) <> 'object' then false
        else data::text is not distinct from
          customer_event_json(${CUSTOMER}, ${PREFERENCES}, ${HISTORY})::text end;
    -- Class 22, and class 54 (program limits: an array nested past six dimensions); not
    -- others, so that running out of memory or a cancel stays an error.
    exception when data_exception or program_limit_exceeded then
      return false;
    end $$`.execute(db)
  const { rows } = await sql<{ business_id: string; id: string }>`
    select business_id, id from customer_events
    where case when data is null then (customer_snapshot).id is null
      else not pg_temp.event_data_reads_alike(data) end
    order by business_id, id limit 5`.execute(db)
  await sql`drop function pg_temp.event_data_reads_alike(jsonb)`.execute(db)
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
}

/** Nothing to undo: the converted events read the same through 2026-12-04T2200's readers. */
export async function down(): Promise<void> {}

/** The snapshots an event's JSON holds (its keys are their fields; JSON null is no row). */
const CUSTOMER = sql`jsonb_populate_record(null::customer_event_customer, data)`
const PREFERENCES = sql`case when jsonb_typeof(data -> 'preferences') = 'object'
  then jsonb_populate_record(null::customer_event_preferences, data -> 'preferences') end`
const HISTORY = sql`case when jsonb_typeof(data -> 'history') = 'object'
  then jsonb_populate_record(null::customer_event_history, data -> 'history') end`
