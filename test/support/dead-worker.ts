import { sql, type Kysely } from 'kysely'
import type { Database } from '../../db/database.js'

/**
 * After a worker process was killed (SIGKILL, and its exit awaited): moves the queue's clock on
 * for the job it left active, instead of waiting for the time to pass. The queue fails such a job
 * (and retries it) once its last heartbeat is older than its `heartbeatSeconds`, on its next
 * monitor pass of that queue (every 10 s, db/job-queue.ts). Here the job's last heartbeat is put
 * twice its `heartbeatSeconds` back, so the next pass of a live worker finds it lost and fails
 * the job, as a pass `heartbeatSeconds` later would: the worker's supervision, the failing and
 * the retry are the queue's own.
 *
 * Only an active job with a heartbeat is touched: a job the queue gives no heartbeat would still
 * wait for its expiry (an hour or more), and the test waiting on it time out. Returns how many
 * jobs were moved on (the test expects 1: the one the killed worker ran).
 */
export async function ageJobsOfDeadWorker(db: Kysely<Database>, queue: string): Promise<number> {
  const aged = await sql`update pgboss.job
    set heartbeat_on = heartbeat_on - make_interval(secs => heartbeat_seconds * 2)
    where name = ${queue} and state = 'active' and heartbeat_seconds is not null`.execute(db)
  return Number(aged.numAffectedRows ?? 0)
}
