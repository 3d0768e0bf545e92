import { readFileSync } from 'node:fs'
import tap from 'tap'
import { createJobQueue, type JobQueue } from '../../db/job-queue.js'
import type { Import } from '../../generated/schemas/Import.js'
import { JOBS } from '../../jobs/index.js'
import type { TestServer } from '../helper.js'

export const IMPORT_FIXTURES = new URL('../fixtures/imports/', import.meta.url)

export const fixture = (name: string): string =>
  readFileSync(new URL(name, IMPORT_FIXTURES), 'utf8')

const queues = new WeakMap<TestServer['database'], Promise<JobQueue>>()

/** A queue without workers on the server's database, stopped when the file's tests end. */
function queueOf(server: TestServer): Promise<JobQueue> {
  let queue = queues.get(server.database)
  if (!queue) {
    const created = createJobQueue(server.database, JOBS, { workers: false, log: console })
    queue = created.start().then(() => created)
    queues.set(server.database, queue)
    const started = queue
    tap.teardown(async () => (await started).stop(1000))
  }
  return queue
}

/** pg-boss of the test's queue on the server's database (no workers): to fetch jobs by hand. */
export async function importQueue(server: TestServer) {
  return (await queueOf(server)).boss
}

/**
 * Runs the import jobs waiting on the server's queue as a worker would (fetched from pg-boss,
 * run by the job's definition, completed), until none waits. Test apps run no workers.
 */
export async function runQueuedImports(server: TestServer): Promise<number> {
  const { boss } = await queueOf(server)
  let ran = 0
  for (;;) {
    const [job] = await boss.fetch<{ businessId: number; importId: number }>('import-customers')
    if (!job) return ran
    const signal = new AbortController().signal
    await JOBS['import-customers'].run(server.database.db, job.data, {
      id: job.id,
      retryCount: 0,
      signal,
    })
    await boss.complete('import-customers', job.id)
    ran += 1
  }
}

/** POSTs `csv` to /imports (with the query given) and returns the response. */
export async function upload(
  inject: TestServer['inject'],
  businessId: number,
  headers: Record<string, string>,
  csv: string | Buffer,
  query = '',
) {
  return inject({
    method: 'POST',
    url: `/api/customers/${businessId}/imports${query}`,
    headers: { ...headers, 'content-type': 'text/csv' },
    payload: csv,
  })
}

/** Uploads, runs the job, and returns the finished import. */
export async function importFile(
  server: TestServer,
  businessId: number,
  headers: Record<string, string>,
  csv: string,
  query = '',
): Promise<Import> {
  const res = await upload(server.inject, businessId, headers, csv, query)
  if (res.statusCode !== 202) throw new Error(`upload: ${res.statusCode} ${res.body}`)
  const { id } = res.json<{ import: Import }>().import
  await runQueuedImports(server)
  const read = await server.inject({
    method: 'GET',
    url: `/api/customers/${businessId}/imports/${id}`,
    headers,
  })
  return read.json<{ import: Import }>().import
}
