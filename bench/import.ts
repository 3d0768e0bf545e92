/**
 * The import scenario: a generated 100,000-row CSV file (common Kenyan names, unique phones and
 * e-mails, a note on one row in ten, 14 bad rows) uploaded to `POST /imports` of a fresh
 * business by the code `npm run import` uses, then followed until the job has finished.
 * Measured: the upload (spooled, staged and queued before the 202), the wait for a worker, the
 * job, the whole; rows per second; the service's CPU time and the machine's busy share over
 * the whole. Checked: the counts, the customers in the database and the error report are exact.
 * Target (issue 17): the whole under 60 s. The bench stops waiting after IMPORT_PATIENCE_SECONDS
 * and reports how far the import got, with its progress every 30 s (the service keeps going).
 */
import { once } from 'node:events'
import { createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { finished } from 'node:stream/promises'
import { stringify } from 'csv-stringify/sync'
import type { Kysely } from 'kysely'
import type { Database } from '../db/database.js'
import type { Import } from '../generated/schemas/Import.js'
import { importOverHttp } from '../scripts/import/remote.js'
import { FIRST_NAMES, LAST_NAMES, STREETS, TOWNS } from '../scripts/seed/data.js'
import { IMPORT_COLUMNS } from '../services/import-rows.js'
import { machineTicks } from './cpu.js'

export const IMPORT_ROWS = 100_000
export const IMPORT_SECONDS_TARGET = 60
export const IMPORT_PATIENCE_SECONDS = 600
const TREND_EVERY_SECONDS = 30

const HEADER = IMPORT_COLUMNS
const TYPES = ['walk_in', 'regular', 'regular', 'regular', 'vip', 'wholesale']
const FLAGS = ['yes', 'no', '', 'true', '0', '']
const NOTES = [
  'Prefers M-Pesa',
  'Buys maize flour every Friday',
  'Pays on the 5th, after salary',
  'Asks for credit; limit 2,000',
]
const CHUNK_ROWS = 1000

/** Rows that are rejected, by construction: a phone that is no number, or no name. */
const badPhone = (index: number) => index % 10_000 === 4_999
const noName = (index: number) => index % 25_000 === 12_345
export const BAD_ROWS = Array.from({ length: IMPORT_ROWS }, (_, index) => index).filter(
  (index) => badPhone(index) || noName(index),
).length

const pick = <T>(items: readonly T[], index: number): T => items[index % items.length] as T

/** Row `index` (0-based): unique phone (0710-0729 and six digits) and e-mail, three phone styles. */
function row(index: number): string[] {
  const first = pick(FIRST_NAMES, index * 7)
  const last = pick(LAST_NAMES, Math.floor(index / FIRST_NAMES.length) * 3 + index)
  const digits = `7${10 + (index % 20)}${String(Math.floor(index / 20)).padStart(6, '0')}`
  const phone = badPhone(index)
    ? '12345'
    : [`0${digits}`, `+254 ${digits.slice(0, 3)} ${digits.slice(3, 6)} ${digits.slice(6)}`][
        index % 2
      ]
  return [
    noName(index) ? '' : `${first} ${last}`,
    phone ?? '',
    index % 3 === 0 ? '' : `${first}.${last}.${index}@example.co.ke`.toLowerCase().replace("'", ''),
    index % 4 === 0 ? '' : `${(index % 300) + 1} ${pick(STREETS, index)}, ${pick(TOWNS, index)}`,
    pick(TYPES, index),
    pick(FLAGS, index),
    pick(FLAGS, index + 1),
    pick(FLAGS, index + 2),
    index % 10 === 0 ? pick(NOTES, index / 10) : '',
  ]
}

/** Writes the file a chunk of rows at a time, as fast as the disk takes it. */
async function writeFile(path: string): Promise<void> {
  const out = createWriteStream(path)
  out.write(stringify([HEADER]))
  for (let start = 0; start < IMPORT_ROWS; start += CHUNK_ROWS) {
    const rows = Array.from({ length: Math.min(CHUNK_ROWS, IMPORT_ROWS - start) }, (_, offset) =>
      row(start + offset),
    )
    if (!out.write(stringify(rows))) await once(out, 'drain')
  }
  out.end()
  await finished(out)
}

/** Busy and total CPU time of the machine so far, in clock ticks (/proc/stat). */
/** Problems in the error report (one per line after its header). */
async function reportLines(url: string, token: string): Promise<number> {
  const response = await fetch(url, { headers: { authorization: `Bearer ${token}` } })
  return (await response.text()).trimEnd().split('\r\n').length - 1
}

export interface ImportBenchResult {
  businessId: number
  rows: number
  badRows: number
  fileMb: number
  status: string
  /** False when the bench stopped waiting first. */
  finished: boolean
  uploadSeconds: number
  queuedSeconds: number
  jobSeconds: number
  totalSeconds: number
  rowsPerSecond: number
  serviceCpuSeconds: number
  machineBusyShare: number
  /** Rows applied by then, every 30 s from the upload's start. */
  trend: { seconds: number; processed: number }[]
  counts: Pick<Import, 'processed' | 'created' | 'updated' | 'skipped' | 'failed_rows'>
  customersInDatabase: number
  exact: boolean
  withinTarget: boolean
}

const round = (value: number, places = 1) => Math.round(value * 10 ** places) / 10 ** places

export async function runImportBench(
  baseUrl: string,
  db: Kysely<Database>,
  token: (businessId: number) => string,
  serviceCpuSeconds: () => number,
): Promise<ImportBenchResult> {
  const { max } = await db
    .selectFrom('businesses')
    .select((eb) => eb.fn.max('id').as('max'))
    .executeTakeFirstOrThrow()
  const businessId = Number(max ?? 0) + 1
  const folder = mkdtempSync(join(tmpdir(), 'payme-bench-import-'))
  const file = join(folder, 'customers.csv')
  try {
    await writeFile(file)
    const fileBytes = statSync(file).size
    const cpuBefore = serviceCpuSeconds()
    const machineBefore = machineTicks()
    const began = performance.now()
    let answeredAt = began
    let last: Import | undefined
    const trend: ImportBenchResult['trend'] = []
    const note = (current: Import) => {
      last = current
      const seconds = (performance.now() - began) / 1000
      const previous = trend.at(-1)?.seconds ?? 0
      if (seconds - previous >= TREND_EVERY_SECONDS) {
        trend.push({ seconds: Math.round(seconds), processed: current.processed })
      }
    }
    const patience = AbortSignal.timeout(IMPORT_PATIENCE_SECONDS * 1000)
    let outcome: Awaited<ReturnType<typeof importOverHttp>> | undefined
    try {
      outcome = await importOverHttp(
        {
          url: baseUrl,
          token: token(businessId),
          businessId,
          file,
          fileBytes,
          mode: 'create',
          dryRun: false,
          signal: patience,
        },
        note,
        () => {
          answeredAt = performance.now()
        },
      )
    } catch (error) {
      if (!patience.aborted || !last) throw error
    }
    const totalSeconds = (performance.now() - began) / 1000
    const machineAfter = machineTicks()
    const done = outcome?.import ?? last
    if (!done) throw new Error('the import was never read')
    // An import still running (or queued) when the bench stopped waiting is counted until now.
    const stoppedAt = Date.now()
    const startedAt = done.started_at ? Date.parse(done.started_at) : stoppedAt
    const finishedAt = done.finished_at ? Date.parse(done.finished_at) : stoppedAt
    const customers = await db
      .selectFrom('customers')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('business_id', '=', businessId)
      .executeTakeFirstOrThrow()
    const errorLines = outcome ? await reportLines(outcome.errorReport, token(businessId)) : 0
    const customersInDatabase = Number(customers.n)
    const good = IMPORT_ROWS - BAD_ROWS
    const exact =
      done.status === 'succeeded' &&
      done.rows === IMPORT_ROWS &&
      done.processed === IMPORT_ROWS &&
      done.created === good &&
      done.updated === 0 &&
      done.skipped === 0 &&
      done.failed_rows === BAD_ROWS &&
      customersInDatabase === good &&
      errorLines === BAD_ROWS
    return {
      businessId,
      rows: IMPORT_ROWS,
      badRows: BAD_ROWS,
      fileMb: round(fileBytes / 1e6),
      status: outcome
        ? done.status
        : `${done.status} (stopped waiting after ${IMPORT_PATIENCE_SECONDS} s)`,
      finished: outcome !== undefined,
      uploadSeconds: round((answeredAt - began) / 1000),
      queuedSeconds: round(Math.max(0, startedAt - Date.parse(done.created_at)) / 1000),
      jobSeconds: round((finishedAt - startedAt) / 1000),
      totalSeconds: round(totalSeconds),
      rowsPerSecond: Math.round(done.processed / totalSeconds),
      serviceCpuSeconds: round(serviceCpuSeconds() - cpuBefore),
      machineBusyShare: round(
        (machineAfter.busy - machineBefore.busy) / (machineAfter.total - machineBefore.total),
        2,
      ),
      counts: {
        processed: done.processed,
        created: done.created,
        updated: done.updated,
        skipped: done.skipped,
        failed_rows: done.failed_rows,
      },
      customersInDatabase,
      trend,
      exact,
      withinTarget: exact && totalSeconds < IMPORT_SECONDS_TARGET,
    }
  } finally {
    rmSync(folder, { recursive: true, force: true })
  }
}

export function renderImport(result: ImportBenchResult): string {
  const c = result.counts
  return [
    `## Import (${result.rows.toLocaleString('en')} rows into a fresh business ${result.businessId})`,
    '',
    `A generated ${result.fileMb} MB CSV file (${result.badRows} bad rows) posted to \`POST /imports\` by \`npm run import\`'s code, followed until the job finished (polled every 0.5 s). Upload: until the 202 (the file spooled, staged and queued). Queued: until a worker started it. CPU: the service process (API and worker) in CPU seconds, and the whole machine's busy share over the run (PostgreSQL included). Target: under ${IMPORT_SECONDS_TARGET} s in all, every count exact.`,
    '',
    '| status | upload s | queued s | job s | total s | rows/s | service CPU s | machine busy | created | failed rows | customers in db | exact | target |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    `| ${result.status} | ${result.uploadSeconds} | ${result.queuedSeconds} | ${result.jobSeconds} | ${result.totalSeconds} | ${result.rowsPerSecond} | ${result.serviceCpuSeconds} | ${Math.round(result.machineBusyShare * 100)} % | ${c.created} | ${c.failed_rows} | ${result.customersInDatabase} | ${result.exact ? 'exact' : 'NOT exact'} | ${result.withinTarget ? 'met' : 'NOT met'} |`,
    '',
    ...(result.trend.length === 0
      ? []
      : [
          `Rows applied by then (every ${TREND_EVERY_SECONDS} s): ${result.trend.map((point) => `${point.seconds} s: ${point.processed}`).join(', ')}.`,
          '',
        ]),
  ].join('\n')
}
