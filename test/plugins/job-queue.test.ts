/**
 * The job queue plugin alone on a bare Fastify (with the config and db plugins it needs), running
 * this file's own jobs on this file's database: on PostgreSQL and on embedded PGlite.
 */
import Fastify, { type FastifyInstance } from 'fastify'
import { sql, type Kysely } from 'kysely'
import { setTimeout as sleep } from 'node:timers/promises'
import t, { type Test } from 'tap'
import type { DatabaseConnection } from '../../db/connect.js'
import type { Database } from '../../db/database.js'
import { enqueue, type JobDefinitions } from '../../db/job-queue.js'
import configPlugin from '../../plugins/config.js'
import dbPlugin from '../../plugins/db.js'
import jobQueuePlugin from '../../plugins/job-queue.js'
import { onPostgres, secondConnection, testConfig, testDatabase } from '../helper.js'

interface TestJobs {
  /** Records that it ran, under `label`, and which instance ran it. */
  record: { label: string }
  /** Fails its first `failures` attempts, then succeeds; records every attempt. */
  flaky: { label: string; failures: number }
}

const POLL_SECONDS = 0.5

async function recordRun(db: Kysely<Database>, jobId: string, label: string, instance: string) {
  await sql`insert into queue_test_runs (job_id, label, instance)
    values (${jobId}, ${label}, ${instance})`.execute(db)
}

function testJobs(instance: string, pauseMs = 0): JobDefinitions<TestJobs> {
  return {
    record: {
      retry: { limit: 0 },
      concurrency: 4,
      run: async (db, data, job) => {
        if (pauseMs > 0) await sleep(pauseMs)
        await recordRun(db, job.id, data.label, instance)
      },
    },
    flaky: {
      retry: { limit: 2, delaySeconds: 0 },
      run: async (db, data, job) => {
        await recordRun(db, job.id, data.label, instance)
        if (job.retryCount < data.failures) throw new Error(`attempt ${job.retryCount} fails`)
        return { attempts: job.retryCount + 1 }
      },
    },
  }
}

/** The queue plugin with its two dependencies, on `database`, closed with the test. */
async function queueApp(
  t: Test,
  database: DatabaseConnection,
  { workers = true, instance = 'a', pauseMs = 0 } = {},
): Promise<FastifyInstance> {
  const app = Fastify({ logger: false })
  await app.register(configPlugin, { config: testConfig({ workers }) })
  await app.register(dbPlugin, { connection: database })
  await app.register(jobQueuePlugin, {
    jobs: testJobs(instance, pauseMs),
    pollingIntervalSeconds: POLL_SECONDS,
  })
  await app.ready()
  t.teardown(() => app.close())
  return app
}

const database = await testDatabase()
await sql`create table queue_test_runs (job_id text not null, label text not null,
  instance text not null, at timestamptz not null default clock_timestamp())`.execute(database.db)
await sql`create table queue_test_writes (label text primary key)`.execute(database.db)

async function runs(label: string) {
  const { rows } = await sql<{
    job_id: string
    instance: string
  }>`select job_id, instance from queue_test_runs where label = ${label} order by at`.execute(
    database.db,
  )
  return rows
}

/** Waits (at most `seconds`) until `label` has run `count` times; the runs seen. */
async function waitForRuns(label: string, count: number, seconds = 20) {
  const deadline = Date.now() + seconds * 1000
  for (;;) {
    const seen = await runs(label)
    if (seen.length >= count || Date.now() > deadline) return seen
    await sleep(100)
  }
}

/** A write and its job in one transaction, committed unless `rollback`. */
async function writeWithJob(label: string, rollback = false): Promise<void> {
  await database.db
    .transaction()
    .execute(async (trx) => {
      await sql`insert into queue_test_writes (label) values (${label})`.execute(trx)
      await enqueue<TestJobs>(trx, 'record', { label })
      if (rollback) throw new Error('rolled back on purpose')
    })
    .catch((error: Error) => {
      if (!rollback || error.message !== 'rolled back on purpose') throw error
    })
}

async function jobLabels(name: string): Promise<string[]> {
  const { rows } = await sql<{ label: string }>`select data->>'label' as label from pgboss.job
    where name = ${name} order by created_on`.execute(database.db)
  return rows.map((row) => row.label)
}

t.test(
  'a job enqueued in a committed transaction runs; a rolled-back one never exists',
  async (t) => {
    const app = await queueApp(t, database)
    await writeWithJob('rolled-back', true)
    await writeWithJob('committed')
    const committed = await waitForRuns('committed', 1)
    t.equal(committed.length, 1, 'the committed job ran once')
    // Several polls more: a job that existed would have been fetched by now.
    await sleep(POLL_SECONDS * 4 * 1000)
    t.strictSame(await runs('rolled-back'), [], 'the rolled-back job never ran')
    t.notOk((await jobLabels('record')).includes('rolled-back'), 'and no job row holds it')
    const { rows } = await sql<{ label: string }>`select label from queue_test_writes`.execute(
      database.db,
    )
    t.strictSame(
      rows.map((row) => row.label),
      ['committed'],
      'the write went with its job, in both cases',
    )
    const [job] = await app.jobQueue.boss.findJobs('record', { id: committed[0]!.job_id })
    t.equal(job?.state, 'completed', 'the job is completed in pgboss.job')
  },
)

t.test('a job enqueued in an open transaction waits for the commit', async (t) => {
  await queueApp(t, database)
  const trx = await database.db.startTransaction().execute()
  await enqueue<TestJobs>(trx, 'record', { label: 'pending' })
  // On PGlite the open transaction holds the one connection, so the workers wait for it too;
  // on PostgreSQL they poll and do not see the job.
  await sleep(POLL_SECONDS * 4 * 1000)
  t.strictSame(await runsOutside(trx), [], 'not run before the commit')
  await trx.commit().execute()
  t.equal((await waitForRuns('pending', 1)).length, 1, 'run after it')
})

/** The runs of 'pending', read in the open transaction (PGlite has one connection). */
async function runsOutside(trx: Kysely<Database>) {
  const { rows } = await sql`select job_id from queue_test_runs where label = 'pending'`.execute(
    trx,
  )
  return rows
}

t.test('a failing job is retried, and fails for good past its retry limit', async (t) => {
  const app = await queueApp(t, database)
  const [once, always] = await database.db
    .transaction()
    .execute(async (trx) => [
      await enqueue<TestJobs>(trx, 'flaky', { label: 'fails-once', failures: 1 }),
      await enqueue<TestJobs>(trx, 'flaky', { label: 'fails-always', failures: 99 }),
    ])
  const onceRuns = await waitForRuns('fails-once', 2)
  await waitForRuns('fails-always', 3)
  // Past the last attempt: one poll more settles the job's state.
  await sleep(POLL_SECONDS * 2 * 1000)
  t.equal(onceRuns.length, 2, 'failed once, then ran again')
  t.ok(
    onceRuns.every((run) => run.job_id === once),
    'both attempts are the same job',
  )
  const [onceJob] = await app.jobQueue.boss.findJobs('flaky', { id: once! })
  t.equal(onceJob?.state, 'completed', 'and it is completed')
  t.equal(onceJob?.retryCount, 1, 'after one retry')
  t.strictSame(onceJob?.output, { attempts: 2 }, "its output is the handler's answer")
  t.equal((await runs('fails-always')).length, 3, 'the other ran 1 + 2 retries, no more')
  const [alwaysJob] = await app.jobQueue.boss.findJobs('flaky', { id: always! })
  t.equal(alwaysJob?.state, 'failed', 'and is failed')
  t.match(
    JSON.stringify(alwaysJob?.output),
    /attempt 2 fails/,
    "the last attempt's error is kept as its output",
  )
})

t.test('closing the app stops its workers', async (t) => {
  const working = Fastify({ logger: false })
  await working.register(configPlugin, { config: testConfig({ workers: true }) })
  await working.register(dbPlugin, { connection: database })
  await working.register(jobQueuePlugin, {
    jobs: testJobs('closed'),
    pollingIntervalSeconds: POLL_SECONDS,
  })
  await working.ready()
  await writeWithJob('before-close')
  t.equal((await waitForRuns('before-close', 1)).length, 1, 'it works while open')
  await working.close()
  // An instance without workers to enqueue through: nobody should run the job now.
  await queueApp(t, database, { workers: false })
  await writeWithJob('after-close')
  await sleep(POLL_SECONDS * 6 * 1000)
  t.strictSame(await runs('after-close'), [], 'the closed app ran nothing more')
  const { rows } = await sql<{ state: string }>`select state::text from pgboss.job
    where name = 'record' and data->>'label' = 'after-close'`.execute(database.db)
  t.strictSame(
    rows.map((row) => row.state),
    ['created'],
    'the job waits for a worker',
  )
})

t.test('two instances share the jobs and never run one twice', async (t) => {
  // On PostgreSQL a pool of its own; embedded PostgreSQL is one process, so both instances
  // share its one connection (as two queues of one service would).
  const other = onPostgres() ? await secondConnection(5) : database
  if (other !== database) t.teardown(() => other.close())
  await queueApp(t, database, { instance: 'one', pauseMs: 20 })
  await queueApp(t, other, { instance: 'two', pauseMs: 20 })
  const count = 200
  await database.db.transaction().execute(async (trx) => {
    for (let index = 0; index < count; index += 1) {
      await enqueue<TestJobs>(trx, 'record', { label: 'shared' })
    }
  })
  const seen = await waitForRuns('shared', count, 60)
  await sleep(POLL_SECONDS * 4 * 1000)
  const all = await runs('shared')
  t.equal(all.length, count, `${count} runs`)
  t.equal(new Set(all.map((run) => run.job_id)).size, count, 'of as many different jobs')
  const one = all.filter((run) => run.instance === 'one').length
  t.ok(one > 0 && one < count, `both instances worked (${one} and ${count - one})`)
  t.ok(seen.length >= count, 'all within the minute')
})
