import { CompiledQuery, type Kysely } from 'kysely'
import { PgBoss, type ConstructorOptions, type Db, type QueuePolicy } from 'pg-boss'
import type { DeliverySettings } from '../lib/outbound/outbound.js'
import type { DatabaseConnection } from './connect.js'
import type { Database } from './database.js'
import type { Executor } from './executor.js'

/**
 * The project's job queue: pg-boss (https://pgboss.io) in the service's own database, schema
 * `pgboss`. docs/job-queue.md says why this library and how it is run.
 *
 * Every job the service knows, by name, with the data it is sent: what `enqueue` accepts. The
 * handlers are in jobs/ (they call services, as routes do).
 */
export interface JobPayloads {
  /** Deletes expired Idempotency-Key records (services/idempotency.ts); scheduled every minute. */
  'purge-idempotency-keys': Record<string, never>
  /** Applies an import's staged rows, batch by batch (services/import-batches.ts). */
  'import-customers': { businessId: number; importId: number }
  /** Sends webhook endpoints their events (services/webhook-deliveries.ts); always running. */
  'deliver-webhooks': Record<string, never>
}

/** What a handler is told about the attempt it runs. */
export interface JobContext {
  id: string
  /** 0 on the first attempt, 1 on the first retry, … */
  retryCount: number
  /** Aborted when the queue stops or the attempt expires: a long job checks it between batches. */
  signal: AbortSignal
  /**
   * Aborted as soon as the queue begins to stop (before pg-boss waits for running jobs): a job
   * that would otherwise run on (a loop) ends now instead of holding the shutdown.
   */
  stopping?: AbortSignal
  /** How this process delivers webhooks (its outbound policy); absent where none is set. */
  deliveries?: DeliverySettings
}

export interface JobDefinition<Data> {
  /**
   * The work: service calls on `db`. A throw fails the attempt (retried as `retry` says); what
   * it returns is kept as the job's output (`pgboss.job.output`).
   */
  run: (db: Kysely<Database>, data: Data, job: JobContext) => Promise<unknown>
  /**
   * Retries after a failed attempt: `limit` more attempts, the first `delaySeconds` later and each
   * next one about twice as late (with jitter) up to `maxDelaySeconds`. Default: 5 retries from
   * 10 s, at most an hour apart.
   */
  retry?: { limit: number; delaySeconds?: number; maxDelaySeconds?: number }
  /** How long one attempt may run before it counts as failed (and is retried); default 15 min. */
  expireInSeconds?: number
  /**
   * The worker refreshes the job every half of this many seconds while it runs (at least 10):
   * a worker that died stops, and the job is retried that much later instead of after
   * `expireInSeconds`. Unset: no heartbeat.
   */
  heartbeatSeconds?: number
  /** A cron expression in UTC: the queue sends the job (with `{}`) on this schedule. */
  cron?: string
  /** At most one waiting and one running at a time, across every instance (a purge, a sweep). */
  oneAtATime?: boolean
  /** Also sent when a queue with workers starts, not only on `cron` (a loop that must not wait). */
  runAtStart?: boolean
  /** Attempts of this job run at once in one process (1 unless given). */
  concurrency?: number
  /**
   * How often an idle worker asks for this job, in seconds (at least 0.5); unset: the queue's
   * `pollingIntervalSeconds`. For jobs a user waits on (an import), not for schedules.
   */
  pollingIntervalSeconds?: number
}

/** A definition per job name of `Payloads` (the service's jobs, or a test's own). */
export type JobDefinitions<Payloads = JobPayloads> = {
  [Name in keyof Payloads & string]: JobDefinition<Payloads[Name]>
}

/** Any set of definitions, whatever their data. */
export type SomeJobDefinitions = Record<string, JobDefinition<never>>

export interface EnqueueOptions {
  /** Not before this many seconds from now. */
  startAfterSeconds?: number
  /** Higher runs first (0 unless given). */
  priority?: number
  /** With `oneAtATime` jobs: the key that "one" is counted by (one per business, say). */
  singletonKey?: string
}

/** The queue's log lines go where the caller's go (the service's pino logger). */
export interface JobQueueLog {
  info(object: object, message: string): void
  warn(object: object, message: string): void
  error(object: object, message: string): void
}

export interface JobQueueOptions {
  /** Run workers and schedules in this process; false: only enqueue (an API-only instance). */
  workers: boolean
  log: JobQueueLog
  /** How often an idle worker asks for a job, in seconds (2 unless given; at least 0.5). */
  pollingIntervalSeconds?: number
  /** Handed to every job as `deliveries` (the webhook delivery job needs it). */
  deliveries?: DeliverySettings
}

export type JobQueue = ReturnType<typeof createJobQueue>

/** Connections pg-boss opens of its own on PostgreSQL (fetching, completing, maintenance). */
const QUEUE_POOL_MAX = 4

/**
 * Supervision every this many seconds: expiring jobs, and the per-queue pass that fails a job
 * whose heartbeat stopped (pg-boss claims that pass once per `monitorIntervalSeconds`, 60 by
 * default, whatever the supervision interval).
 */
const SUPERVISE_SECONDS = 10

const DEFAULT_RETRY = { limit: 5, delaySeconds: 10, maxDelaySeconds: 3600 }

/** Queues started in this process, newest last: `enqueue` writes through one of them. */
const running: PgBoss[] = []

/**
 * SQL run by `executor` (a Kysely transaction, or the database): what pg-boss calls `db`. A job
 * sent through it is one `INSERT` in that transaction, committed or rolled back with it.
 */
function sqlThrough(executor: Executor): Db {
  return {
    async executeSql(text, values = []) {
      const result = await executor.executeQuery(CompiledQuery.raw(text, values))
      return { rows: [...result.rows] }
    },
  }
}

/**
 * PostgreSQL: pg-boss's own small pool on the same database, so queue bookkeeping never waits
 * behind (or holds up) requests. Embedded: the one PGlite connection, shared with the service
 * (db/connect.ts `embeddedSql`), which needs pg-boss's `pglite` backend profile.
 */
function bossOptions(connection: DatabaseConnection): ConstructorOptions {
  const { target } = connection
  if (target.kind === 'postgres') return { connectionString: target.url, max: QUEUE_POOL_MAX }
  if (!connection.embeddedSql) throw new Error('an embedded connection without embeddedSql')
  return { backend: 'pglite', db: { executeSql: connection.embeddedSql } }
}

const policyOf = (definition: JobDefinition<never>): QueuePolicy =>
  definition.oneAtATime ? 'stately' : 'standard'

function queueOptionsOf(definition: JobDefinition<never>) {
  const retry = { ...DEFAULT_RETRY, ...definition.retry }
  // Doubling a delay of 0 is still 0: a job that asks for none is retried at once.
  const backoff = retry.delaySeconds > 0
  return {
    retryLimit: retry.limit,
    retryDelay: retry.delaySeconds,
    retryBackoff: backoff,
    expireInSeconds: definition.expireInSeconds ?? 900,
    ...(definition.heartbeatSeconds === undefined
      ? {}
      : { heartbeatSeconds: definition.heartbeatSeconds }),
    /** Only with a back-off; null clears an earlier one (updateQueue). */
    retryDelayMax: backoff ? retry.maxDelaySeconds : null,
  }
}

/**
 * The queue over `connection`'s database, with a queue per job of `jobs`. `start()` installs or
 * upgrades pg-boss's schema when needed (pg-boss's own migrations, under its advisory lock),
 * creates the queues and schedules and, with `workers`, runs them; `stop()` lets running jobs
 * finish (up to the time given) and stops every timer and connection of its own.
 */
export function createJobQueue(
  connection: DatabaseConnection,
  jobs: SomeJobDefinitions,
  options: JobQueueOptions,
) {
  const { log, workers } = options

  /** A pg-boss instance per start: one whose start failed is stopped and dropped whole. */
  function newBoss(): PgBoss {
    const boss = new PgBoss({
      ...bossOptions(connection),
      // Maintenance (expiring, deleting old jobs) and cron belong to the instances that work.
      supervise: workers,
      superviseIntervalSeconds: SUPERVISE_SECONDS,
      // How often a job whose worker died (its heartbeat stopped) is noticed and retried.
      monitorIntervalSeconds: SUPERVISE_SECONDS,
      schedule: workers,
    })
    // Unhandled, an 'error' event would end the process; pg-boss retries on its own.
    boss.on('error', (error: unknown) => log.error({ err: error }, 'job queue error'))
    boss.on('warning', (warning: unknown) => log.warn({ warning }, 'job queue warning'))
    return boss
  }

  async function createQueues(boss: PgBoss): Promise<void> {
    for (const [name, definition] of Object.entries(jobs)) {
      const { retryDelayMax, ...queue } = queueOptionsOf(definition)
      // create_queue does nothing for a queue that exists; the update applies today's options.
      await boss.createQueue(name, {
        ...queue,
        ...(retryDelayMax === null ? {} : { retryDelayMax }),
        policy: policyOf(definition),
      })
      await boss.updateQueue(name, { ...queue, retryDelayMax })
      if (definition.cron) await boss.schedule(name, definition.cron, {}, { tz: 'UTC' })
      else await boss.unschedule(name)
    }
  }

  async function startWorkers(boss: PgBoss): Promise<void> {
    for (const [name, definition] of Object.entries(jobs)) {
      await boss.work<never>(
        name,
        {
          batchSize: 1,
          localConcurrency: definition.concurrency ?? 1,
          pollingIntervalSeconds:
            definition.pollingIntervalSeconds ?? options.pollingIntervalSeconds ?? 2,
        },
        async function runJob([job]) {
          if (!job) return undefined
          const { id, retryCount, signal } = job
          try {
            return await definition.run(connection.db, job.data, {
              id,
              retryCount,
              signal,
              stopping: stopping.signal,
              deliveries: options.deliveries,
            })
          } catch (error) {
            log.warn({ err: error, job: name, job_id: id, retry_count: retryCount }, 'job failed')
            throw error
          }
        },
      )
    }
  }

  let current: PgBoss | undefined
  let stopped = false
  const stopping = new AbortController()
  let retryTimer: NodeJS.Timeout | undefined

  async function startOnce(): Promise<void> {
    const boss = newBoss()
    try {
      await boss.start()
      running.push(boss)
      current = boss
      await createQueues(boss)
      if (workers) {
        await startWorkers(boss)
        for (const [name, definition] of Object.entries(jobs)) {
          // A one-at-a-time job already waiting or running makes this a no-op.
          if (definition.runAtStart) await boss.send(name, {})
        }
      }
      // Stopped while a background attempt was under way: this one must not outlive it.
      if (stopped) throw new Error('the job queue stopped while it started')
    } catch (error) {
      // A queue that cannot start must not keep timers and connections alive.
      if (current === boss) running.splice(running.indexOf(boss), 1)
      current = undefined
      await boss.stop({ graceful: false }).catch(() => undefined)
      throw error
    }
  }

  return {
    /** pg-boss itself, for what the service does not wrap: inspecting jobs and queues. */
    get boss(): PgBoss {
      if (!current) throw new Error('the job queue is not started')
      return current
    },
    workers,
    names: Object.keys(jobs),
    /** Installs what is missing, creates the queues and schedules, and runs the workers. */
    start: startOnce,
    /**
     * `start`, and when it fails (the database is unreachable at start-up) again in the
     * background, 1 s later, then twice as late each time up to 30 s, until it works or the queue
     * stops: the service still starts, and reports the database through /ready meanwhile.
     */
    async startOrRetry(): Promise<void> {
      let delayMs = 1000
      const attempt = async (): Promise<void> => {
        try {
          await startOnce()
          if (retryTimer) log.info({}, 'job queue started')
        } catch (error) {
          if (stopped) return
          log.error({ err: error, retry_in_ms: delayMs }, 'job queue did not start; retrying')
          retryTimer = setTimeout(() => void attempt(), delayMs)
          delayMs = Math.min(delayMs * 2, 30_000)
        }
      }
      await attempt()
    },
    /** Stops fetching; running jobs get `timeoutMs` to finish, then are left to expire and retry. */
    async stop(timeoutMs: number): Promise<void> {
      stopped = true
      stopping.abort()
      clearTimeout(retryTimer)
      const boss = current
      if (!boss) return
      current = undefined
      running.splice(running.indexOf(boss), 1)
      await boss.stop({ graceful: true, timeout: Math.max(timeoutMs, 1) })
    },
  }
}

/**
 * Sends job `name` with `data` in `executor`'s transaction: the job exists once the transaction
 * commits and never if it rolls back, so a write and the job it needs are one unit. Pass the
 * transaction of that write (a service's `inTransaction` callback, or `request.db`). Resolves
 * to the job's id, or null when a `oneAtATime` job already waits.
 *
 * Needs a started queue in this process (the service's, or `npm run worker`'s); every queue of
 * a process is on the same database as the transactions it is given.
 */
export async function enqueue<
  Payloads = JobPayloads,
  Name extends keyof Payloads & string = keyof Payloads & string,
>(
  executor: Executor,
  name: Name,
  data: Payloads[Name],
  options: EnqueueOptions = {},
): Promise<string | null> {
  const boss = running.at(-1)
  if (!boss) throw new Error(`enqueue ${name}: no job queue is started in this process`)
  return boss.send(name, data as object, {
    db: sqlThrough(executor),
    ...(options.startAfterSeconds === undefined ? {} : { startAfter: options.startAfterSeconds }),
    ...(options.priority === undefined ? {} : { priority: options.priority }),
    ...(options.singletonKey === undefined ? {} : { singletonKey: options.singletonKey }),
  })
}
