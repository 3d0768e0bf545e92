import { cpSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { sql } from 'kysely'
import t, { type Test } from 'tap'
import { createJobQueue, enqueue } from '../../db/job-queue.js'
import { JOBS } from '../../jobs/index.js'
import { TEST_JWT_SECRET, testDatabase } from '../helper.js'
import { runServer } from '../operations/server-process.js'
import { loadChoice } from '../setup/test-database.js'

const quiet = { info: () => {}, warn: () => {}, error: () => {} }

/** `npm run worker` on this file's database (PostgreSQL), or on a copy of the template (PGlite). */
async function startWorker(t: Test) {
  const { target } = await testDatabase()
  const dataDir = mkdtempSync(join(tmpdir(), 'payme-worker-'))
  const choice = loadChoice()
  if (choice.kind === 'embedded' && choice.template) {
    cpSync(choice.template.dataDir, join(dataDir, 'pgdata'), { recursive: true })
  }
  const { child, output, exited } = runServer(
    {
      NODE_ENV: 'production',
      DATA_DIR: dataDir,
      JWT_SECRET: TEST_JWT_SECRET,
      LOG_LEVEL: 'warn',
      SHUTDOWN_TIMEOUT_MS: '5000',
      ...(target.kind === 'postgres' ? { DATABASE_URL: target.url } : {}),
    },
    'scripts/worker.ts',
  )
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL')
      await exited
    }
  })
  const started = Date.now()
  while (!output.stdout.includes('workers running') && Date.now() - started < 60_000) {
    if (child.exitCode !== null) break
    await sleep(50)
  }
  t.match(output.stdout, /PayMe Customers workers running on .*: purge-idempotency-keys/, 'started')
  return { child, output, exited }
}

t.test('npm run worker runs the jobs and exits 0 soon after SIGTERM', async (t) => {
  const onPostgres = loadChoice().kind === 'postgres'
  const worker = await startWorker(t)
  if (onPostgres) {
    // An expired key, and the purge job sent through a queue of this process (no workers).
    const database = await testDatabase()
    const queue = createJobQueue(database, JOBS, { workers: false, log: quiet })
    await queue.start()
    t.teardown(() => queue.stop(1000))
    await database.db
      .insertInto('businesses')
      .values({ id: 1701 })
      .onConflict((conflict) => conflict.column('id').doNothing())
      .execute()
    await sql`insert into idempotency_keys
      (business_id, user_sub, key, method, path, body_sha256, status_code, created_at)
      values (1701, 1, 'old', 'POST', '/x', 'x', 201, now() - interval '25 hours')`.execute(
      database.db,
    )
    await database.db.transaction().execute((trx) => enqueue(trx, 'purge-idempotency-keys', {}))
    let left = 1
    for (let waited = 0; waited < 20_000 && left > 0; waited += 200) {
      await sleep(200)
      const { rows } = await sql<{ n: number }>`select count(*)::int as n from idempotency_keys
        where business_id = 1701`.execute(database.db)
      left = rows[0]?.n ?? 1
    }
    t.equal(left, 0, 'the worker process ran the purge')
  }
  const asked = Date.now()
  worker.child.kill('SIGTERM')
  const code = await worker.exited
  t.equal(code, 0, `exit 0 (stderr: ${worker.output.stderr.slice(0, 500)})`)
  t.ok(
    Date.now() - asked < 5000,
    `stopped within 5 s (${Date.now() - asked} ms): nothing held it open`,
  )
})
