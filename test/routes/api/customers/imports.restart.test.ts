/**
 * An import survives the death of the worker running it. On PostgreSQL the worker is a real
 * `npm run worker` process, killed with SIGKILL mid-import, and a second worker process (started
 * while the first runs, as a second instance would be) takes the import over; on embedded PGlite
 * (in-process, nothing to kill) the attempt is aborted between batches, as a stopping queue
 * aborts it, and run again. Either way the import ends with every row applied exactly once.
 */
import { once } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import { sql } from 'kysely'
import t, { type Test } from 'tap'
import type { Import } from '../../../../generated/schemas/Import.js'
import { JOBS } from '../../../../jobs/index.js'
import { authFor, build, fileDatabaseUrl, onPostgres, type TestServer } from '../../../helper.js'
import { startScript } from '../../../scripts/run-script.js'
import { ageJobsOfDeadWorker } from '../../../support/dead-worker.js'
import { importQueue, upload } from '../../../support/imports.js'

// 15,000 rows, a kill, the queue noticing the dead worker (its heartbeat stops), the rest.
t.setTimeout(900_000)

const BUSINESS = 7300
const ROWS = onPostgres() ? 15_000 : 1_500

function restartFile(rows: number): string {
  const lines = ['name,phone,email,notes']
  for (let row = 1; row <= rows; row += 1) {
    const digits = String(row).padStart(6, '0')
    const note = row % 10 === 0 ? `Note of row ${row}` : ''
    lines.push(
      `Restart Customer ${digits},+254 7${digits.slice(0, 2)} ${digits.slice(2)}00,r${row}@example.co.ke,${note}`,
    )
  }
  return `${lines.join('\n')}\n`
}

async function importRow(server: TestServer, id: number) {
  return server.database.db
    .selectFrom('customer_imports')
    .selectAll()
    .where('business_id', '=', BUSINESS)
    .where('id', '=', id)
    .executeTakeFirstOrThrow()
}

async function customerCounts(server: TestServer) {
  const { rows } = await sql<{ customers: number; names: number; notes: number }>`select
      (select count(*)::int from customers where business_id = ${BUSINESS}) as customers,
      (select count(distinct name)::int from customers where business_id = ${BUSINESS}) as names,
      (select count(*)::int from customer_notes where business_id = ${BUSINESS}) as notes`.execute(
    server.database.db,
  )
  return rows[0]
}

async function waitFor(label: string, seconds: number, ready: () => Promise<boolean>) {
  const until = Date.now() + seconds * 1000
  while (!(await ready())) {
    if (Date.now() > until) throw new Error(`${label}: not within ${seconds} s`)
    await sleep(200)
  }
}

async function uploadFile(t: Test, server: TestServer): Promise<number> {
  const res = await upload(server.inject, BUSINESS, authFor(BUSINESS), restartFile(ROWS))
  t.equal(res.statusCode, 202, 'queued')
  return res.json<{ import: Import }>().import.id
}

t.test('a worker killed mid-import: the import resumes and applies every row once', async (t) => {
  const server = await build(t)
  const id = await uploadFile(t, server)
  let jobId = ''
  const halfway = async () => (await importRow(server, id)).processed >= 2_000

  if (onPostgres()) {
    const env = { DATABASE_URL: fileDatabaseUrl(), LOG_LEVEL: 'warn' }
    const first = startScript('scripts/worker.ts', [], env)
    await waitFor('the first worker takes the import', 180, async () => {
      return (await importRow(server, id)).processed > 0
    })
    // The second worker starts while the first runs the import (which only one worker can hold),
    // so its start-up is not waited for after the kill.
    const second = startScript('scripts/worker.ts', [], env)
    t.teardown(() => {
      second.kill('SIGTERM')
    })
    await waitFor('the first worker applies batches', 180, halfway)
    first.kill('SIGKILL')
    await once(first, 'exit')
  } else {
    const stop = new AbortController()
    const boss = await importQueue(server)
    const [job] = await boss.fetch<{ businessId: number; importId: number }>('import-customers')
    if (!job) throw new Error('no job queued')
    jobId = job.id
    const attempt = JOBS['import-customers'].run(server.database.db, job.data, {
      id: job.id,
      retryCount: 0,
      signal: stop.signal,
    })
    // In-process, the batches would outrun any polling: the stop is asked for at once, and the
    // attempt sees it after its first batch, as it would see a stopping queue.
    stop.abort()
    await t.rejects(attempt, 'the attempt stops between batches')
  }

  const cut = await importRow(server, id)
  t.equal(cut.status, 'running', 'cut off while running')
  t.ok(cut.processed > 0 && cut.processed < ROWS, `cut off part-way (${cut.processed} of ${ROWS})`)
  t.equal((await customerCounts(server))?.customers, cut.processed, 'exactly the committed batches')

  if (onPostgres()) {
    // The wait until the heartbeat counts as lost passes at once; the second worker's supervisor
    // still has to notice it and fail the job, and the queue to retry it.
    t.equal(
      await ageJobsOfDeadWorker(server.database.db, 'import-customers'),
      1,
      'the killed worker left its job active, with a heartbeat',
    )
    await waitFor('the import finishes on the second worker', 600, async () => {
      return (await importRow(server, id)).status === 'succeeded'
    })
  } else {
    // What the queue does after the failed attempt: the job runs again.
    await JOBS['import-customers'].run(
      server.database.db,
      { businessId: BUSINESS, importId: id },
      { id: jobId, retryCount: 1, signal: new AbortController().signal },
    )
    await (await importQueue(server)).complete('import-customers', jobId)
  }

  const done = await importRow(server, id)
  t.match(done, { status: 'succeeded', rows: ROWS, processed: ROWS, created: ROWS, failed_rows: 0 })
  t.same(
    await customerCounts(server),
    { customers: ROWS, names: ROWS, notes: ROWS / 10 },
    'every row once: no customer or note twice, none missing',
  )
  const { rows: staged } = await sql<{ count: number }>`select count(*)::int as count
    from customer_import_rows where business_id = ${BUSINESS}`.execute(server.database.db)
  t.equal(staged[0]?.count, 0, 'nothing left staged')
})
