/**
 * `npm run bench [-- --scenarios get,list --duration 10 --warmup 3 --connections 20 --business 5]`:
 * starts the service on DATABASE_URL (seed it first with `npm run seed`), runs every scenario
 * with autocannon (after an unrecorded warm-up of the same load), then runs the same SQL through
 * `pg` directly at the same concurrency (the floor), and writes bench/results/<date>.json and .md
 * and latest.md; a subset run writes <date>-subset.json and .md and leaves latest.md alone.
 */
import { randomBytes } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { sql } from 'kysely'
import { connectDatabase } from '../db/connect.js'
import { findStalePurchaseHistory } from '../db/customer-purchase-history.js'
import {
  exitWithUsage,
  flag,
  nonEmptyText,
  nonNegativeInteger,
  optional,
  parseCommandLine,
  portNumber,
  positiveInteger,
  withDefault,
} from '../scripts/cli.js'
import {
  DEEP_PAGE_CUSTOMERS,
  MIN_ACTIVE_CUSTOMERS,
  NotEnoughData,
  PUBLISHED_SEED,
  loadFixture,
  seedCommand,
} from './fixture.js'
import { httpScenarioLoad, rawSqlLoad, recordedLoad } from './loads.js'
import { requestNumbers } from './request-numbers.js'
import { clockTicksPerSecond, cpuSnapshot, cpuUsageBetween, type CpuUsage } from './cpu.js'
import { SCENARIOS, type Fixture, type Scenario } from './scenarios.js'
import { benchToken, startServer, type BenchServer } from './server.js'
import { renderMarkdown, type ScenarioResult } from './report.js'
import { OVERLOAD_CONNECTIONS, runOverload, type OverloadResult } from './overload.js'
import { runExport, type ExportResult } from './export.js'
import { IMPORT_ROWS, runImportBench, type ImportBenchResult } from './import.js'
import {
  compareOutbox,
  deleteEventsAfter,
  lastEventId,
  outboxEnabled,
  outboxOrder,
  runOf,
  setOutbox,
  type OutboxResult,
  type OutboxRun,
} from './outbox.js'
import {
  DELIVERY_RATE,
  DELIVERY_SECONDS,
  runDeliveryBench,
  type DeliveryResult,
} from './deliveries.js'

const commandLine = {
  command: 'npm run bench',
  summary: `Builds the service (npm run build), starts it on DATABASE_URL and runs each scenario with autocannon beside the same SQL through pg directly; writes bench/results/<date>.json and .md and latest.md, or for a subset (--scenarios) <date>-subset.json and .md, leaving latest.md alone.

Minimum data: ${MIN_ACTIVE_CUSTOMERS.toLocaleString('en')} active customers in the business, checked at start (more than ${DEEP_PAGE_CUSTOMERS.toLocaleString('en')} for the deep-page scenario to read a page). On an empty database,
  ${seedCommand(5)}
gives enough; the published figures come from
  ${PUBLISHED_SEED}
See bench/README.md.

Scenarios: ${SCENARIOS.map((scenario) => scenario.name).join('; ')}; export (every active customer as CSV, then NDJSON: time and the service's RSS above idle); overload (${OVERLOAD_CONNECTIONS.toLocaleString('en')} connections at once, last); import (only when named: ${IMPORT_ROWS.toLocaleString('en')} generated rows into a new business each run, through POST /imports; needs no seed); deliveries (only when named, and alone: customers patched at --delivery-rate a second for --delivery-seconds, each event's lag to a webhook endpoint in this process; the service runs with NODE_ENV=development, whose URL policy lets it post to 127.0.0.1).

--outbox-ab <rounds> runs the scenarios named once uncounted (warm-up), then with the outbox's triggers enabled and disabled in turn (on, off; off, on; …) and compares their req/s (issue 18: at most 10 % slower with it); the triggers are enabled again at the end and the rounds' events deleted.`,
  options: {
    scenarios: optional(nonEmptyText, {
      placeholder: '<names>',
      description:
        'comma-separated parts of scenario names (get,search matches "get customer" and the four searches; a whole name, that scenario alone)',
      absent: 'default: every scenario',
    }),
    duration: withDefault(positiveInteger, {
      placeholder: '<s>',
      description: 'recorded seconds per scenario',
      default: 10,
    }),
    // Unrecorded seconds of the same load first: the JIT warms up and the scenario's pages are
    // read into the cache (this machine's kernel reclaims page cache that has gone cold).
    warmup: withDefault(nonNegativeInteger, {
      placeholder: '<s>',
      description: 'unrecorded seconds of the same load before each',
      default: 3,
    }),
    connections: withDefault(positiveInteger, {
      placeholder: '<n>',
      description: 'concurrent connections',
      default: 20,
    }),
    business: withDefault(positiveInteger, {
      placeholder: '<id>',
      description: 'the seeded business',
      default: 5,
    }),
    port: withDefault(portNumber, {
      placeholder: '<n>',
      description: 'port of the service under test',
      default: 3999,
    }),
    'probe-port': withDefault(portNumber, {
      placeholder: '<n>',
      description: "its PROBE_PORT (/health and /ready from the service's worker thread)",
      default: 3998,
    }),
    out: withDefault(nonEmptyText, {
      placeholder: '<dir>',
      description: 'where results are written',
      default: 'bench/results',
    }),
    'outbox-ab': optional(positiveInteger, {
      placeholder: '<rounds>',
      description:
        'the scenarios named, with the outbox triggers on and off in turn, <rounds> times',
      absent: 'default: as they stand (on)',
    }),
    'separate-worker': flag(
      "the job queue's workers (the delivery loop, imports) in their own process (npm run worker), the service with WORKERS=false; that process's CPU and memory are not in the service's columns",
    ),
    'delivery-rate': withDefault(positiveInteger, {
      placeholder: '<n>',
      description: 'deliveries: customers patched (events) a second',
      default: DELIVERY_RATE,
    }),
    'delivery-seconds': withDefault(positiveInteger, {
      placeholder: '<s>',
      description: 'deliveries: seconds of that load',
      default: DELIVERY_SECONDS,
    }),
    // CI's smoke run.
    check: flag('exit 1 on any non-2xx answer or inexact totals'),
  },
}
const values = parseCommandLine(commandLine)
const { duration, warmup, connections, business: businessId } = values
const wanted = values.scenarios
  ?.split(',')
  .map((name) => name.trim().toLowerCase())
  .filter((name) => name !== '')
// A part that is a whole scenario's name picks that one alone ("create customer", not "create
// customer with Idempotency-Key" too); any other part, every scenario whose name holds it.
const exactly = (name: string) => SCENARIOS.some((scenario) => scenario.name.toLowerCase() === name)
const scenarios = SCENARIOS.filter(
  (scenario) =>
    !wanted ||
    wanted.some((name) =>
      exactly(name)
        ? scenario.name.toLowerCase() === name
        : scenario.name.toLowerCase().includes(name),
    ),
)
const overloadWanted = !wanted || wanted.some((name) => 'overload'.includes(name))
const exportWanted = !wanted || wanted.some((name) => 'export'.includes(name))
// Each run adds a business of 100,000 customers: only when asked for by name.
const importWanted = wanted?.some((name) => 'import'.includes(name)) ?? false
// Runs the service with NODE_ENV=development (a local receiver): alone, so nothing else is
// measured in that mode.
const deliveriesWanted = wanted?.some((name) => 'deliveries'.includes(name)) ?? false
const outboxRounds = values['outbox-ab']
if (
  deliveriesWanted &&
  (scenarios.length > 0 || overloadWanted || exportWanted || importWanted || outboxRounds)
) {
  exitWithUsage(
    commandLine,
    '--scenarios deliveries runs alone (the service runs in development mode for it)',
  )
}
if (outboxRounds !== undefined && (wanted === undefined || scenarios.length === 0)) {
  exitWithUsage(commandLine, '--outbox-ab needs --scenarios naming the write scenarios to compare')
}
if (
  scenarios.length === 0 &&
  !overloadWanted &&
  !exportWanted &&
  !importWanted &&
  !deliveriesWanted
) {
  exitWithUsage(commandLine, `--scenarios ${JSON.stringify(values.scenarios)} matches no scenario`)
}
// latest.md is the figures the README links: only a run of every scenario replaces it.
const fullRun =
  scenarios.length === SCENARIOS.length && overloadWanted && exportWanted && !outboxRounds
const databaseUrl = process.env.DATABASE_URL
if (!databaseUrl) {
  console.error(
    `npm run bench: DATABASE_URL must name the seeded benchmark database (${seedCommand(businessId)} on an empty one first)`,
  )
  process.exit(2)
}

const jwtSecret = randomBytes(32).toString('base64url')
const webhookSecret = randomBytes(24).toString('base64url')
const token = benchToken(jwtSecret, businessId)

// /proc's CPU times are in these ticks; the load average is noted at both ends of the run.
const ticksPerSecond = clockTicksPerSecond()
const loadAtStart = loadavg()

const { db } = await connectDatabase({
  kind: 'postgres',
  url: databaseUrl,
  poolMax: connections,
})

const requestNumber = requestNumbers()

async function httpLoad(
  server: BenchServer,
  scenario: Scenario,
  fixture: Fixture,
  seconds: number,
) {
  let peakRss = 0
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, server.memory().rss)
  }, 200)
  const result = await httpScenarioLoad(
    server.url,
    token,
    scenario,
    fixture,
    () => requestNumber(scenario.name),
    connections,
    seconds,
  )
  clearInterval(sampler)
  return { result, peakRss }
}

/** One scenario: warm-up, the recorded load, its cleanup, the raw SQL floor and the totals. */
async function measure(
  server: BenchServer,
  scenario: Scenario,
  label = scenario.name,
): Promise<ScenarioResult> {
  await scenario.prepare?.(db, fixture)
  const window = { warmup, seconds: duration, ticksPerSecond }
  const {
    result: { result, peakRss },
    cpu,
  } = await recordedLoad(
    db,
    server.process.pid ?? 0,
    window,
    (seconds) => httpLoad(server, scenario, fixture, seconds),
    (load) => load.result.requests.total,
  )
  if (scenario.cleanup) {
    // autocannon stops at the deadline; requests it sent may still be running in the service.
    await settled()
    await scenario.cleanup(db, fixture)
  }
  const raw = scenario.rawSql
    ? await rawSqlLoad(db, scenario.rawSql, fixture, connections, window)
    : undefined
  let exact: boolean | undefined
  if (scenario.name.startsWith('webhook') || scenario.prepare) {
    exact = (await findStalePurchaseHistory(db, businessId)).length === 0
  }
  const row: ScenarioResult = {
    scenario: scenario.name,
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx + result.errors + result.timeouts,
    statusCodes: Object.fromEntries(
      Object.entries(result.statusCodeStats ?? {}).map(([code, stats]) => [code, stats.count ?? 0]),
    ),
    peakRssMb: Math.round(peakRss),
    cpu,
    raw: raw && { rps: raw.rps, p50: raw.p50, p99: raw.p99, errors: raw.errors, cpu: raw.cpu },
    target: scenario.target,
    totalsExact: exact,
  }
  console.log(
    `${label.padEnd(34)} ${row.rps.toFixed(0).padStart(6)} req/s  p50 ${row.p50} ms  p99 ${row.p99} ms  non-2xx ${row.non2xx}` +
      `  CPU/req: service ${cpu.processMsPerRequest} ms, PG ${cpu.postgresMsPerRequest} ms` +
      (raw
        ? `  | raw SQL ${raw.rps.toFixed(0)} req/s (CPU/req: client ${raw.cpu.processMsPerRequest} ms, PG ${raw.cpu.postgresMsPerRequest} ms), API÷raw ${(row.rps / raw.rps).toFixed(2)}`
        : '') +
      (exact === undefined ? '' : `  | totals exact: ${exact}`),
  )
  return row
}

/**
 * The scenarios with the outbox's triggers on and off in turn; enabled again whatever happens,
 * and the rounds' events deleted.
 */
async function runOutboxRounds(server: BenchServer, rounds: number): Promise<OutboxResult> {
  const runs: OutboxRun[] = []
  const after = await lastEventId(db)
  let eventsWritten: number
  let enabledAtEnd: boolean
  try {
    // Not counted: the first round measured otherwise met a cold service and database pages,
    // and it was always an "on" round (req/s a third to a half of the later ones).
    await settled()
    await setOutbox(db, true)
    for (const scenario of scenarios) await measure(server, scenario, `${scenario.name} (warm-up)`)
    for (let round = 0; round < rounds; round += 1) {
      for (const enabled of outboxOrder(round)) {
        // ALTER TABLE waits for every transaction on the table: the service's must have ended.
        await settled()
        await setOutbox(db, enabled)
        for (const scenario of scenarios) {
          const label = `${scenario.name} (outbox ${enabled ? 'on' : 'off'}, ${round + 1})`
          const row = await measure(server, scenario, label)
          results.push(row)
          runs.push(runOf(round, enabled, row))
        }
      }
    }
  } finally {
    await settled()
    await setOutbox(db, true)
    enabledAtEnd = await outboxEnabled(db)
    eventsWritten = await deleteEventsAfter(db, after)
    console.log(
      `outbox: triggers enabled again: ${enabledAtEnd}; ${eventsWritten} events of the rounds deleted`,
    )
  }
  return { rounds, runs, comparisons: compareOutbox(runs), eventsWritten, enabledAtEnd }
}

const IDLE_SECONDS = 3

/**
 * The CPU the service and PostgreSQL use with no load (the job queue's polling, the probe
 * thread, the server's own processes): a part of every window, large beside few requests.
 */
async function idleCpu(server: BenchServer): Promise<CpuUsage> {
  const pid = server.process.pid ?? 0
  const start = await cpuSnapshot(db, pid)
  await new Promise((resolve) => setTimeout(resolve, IDLE_SECONDS * 1000))
  return cpuUsageBetween(start, await cpuSnapshot(db, pid), 0, ticksPerSecond)
}

/** Waits (at most 30 s) until no other session of the benchmark database is running a statement. */
async function settled(): Promise<void> {
  for (let waited = 0; waited < 30_000; waited += 200) {
    const { rows } = await sql<{ busy: number }>`select count(*)::int as busy from pg_stat_activity
      where datname = current_database() and state = 'active' and pid <> pg_backend_pid()`.execute(
      db,
    )
    if ((rows[0]?.busy ?? 0) === 0) return
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
}

/** The fixture, or a one-line reason to stop before anything is built or started. */
async function fixtureOrExit(): Promise<Fixture> {
  try {
    const { fixture, active } = await loadFixture(db, businessId, webhookSecret)
    if (active < DEEP_PAGE_CUSTOMERS && scenarios.some((s) => s.name.includes('deep page'))) {
      console.error(
        `npm run bench: note: business ${businessId} has ${active.toLocaleString('en')} active customers, so "list, deep page" reads past the last one (an empty page)`,
      )
    }
    return fixture
  } catch (error) {
    await db.destroy()
    const reason =
      error instanceof NotEnoughData
        ? error.message
        : `could not read the benchmark database: ${(error as Error).message}`
    console.error(`npm run bench: ${reason}`)
    process.exit(1)
  }
}

// The import scenario brings its own data: run alone, it needs no seeded business.
const fixture: Fixture =
  scenarios.length > 0 || overloadWanted || exportWanted || deliveriesWanted
    ? await fixtureOrExit()
    : {
        businessId,
        customerIds: [],
        phoneFragments: [],
        customerPhones: [],
        emailFragments: [],
        webhookSecret,
        busyCustomerId: 0,
      }
const server = await startServer(
  { DATABASE_URL: databaseUrl, JWT_SECRET: jwtSecret, SALES_WEBHOOK_SECRET: webhookSecret },
  Number(values.port),
  Number(values['probe-port']),
  deliveriesWanted ? 'development' : 'production',
  values['separate-worker'],
)
const results: ScenarioResult[] = []
const idle = await idleCpu(server)
console.log(
  `idle (${IDLE_SECONDS} s, no load): service ${idle.processSeconds} s of CPU, PostgreSQL ${idle.postgresSeconds} s`,
)
let overload: OverloadResult | undefined
let exported: ExportResult | undefined
let imported: ImportBenchResult | undefined
let outbox: OutboxResult | undefined
let deliveries: DeliveryResult | undefined
try {
  if (outboxRounds !== undefined) {
    outbox = await runOutboxRounds(server, outboxRounds)
  } else {
    for (const scenario of scenarios) results.push(await measure(server, scenario))
  }
  if (exportWanted) {
    exported = await runExport(
      server.url,
      fixture.businessId,
      await activeCustomers(databaseUrl),
      `Bearer ${token}`,
      () => server.memory().rss,
    )
    for (const run of exported.runs) {
      console.log(
        `${`export, ${run.format}`.padEnd(34)} ${run.status}: ${run.rows} rows (of ${exported.expectedRows}), ${(run.bytes / 1e6).toFixed(1)} MB in ${run.seconds} s; RSS idle ${run.idleRssMb} MB, peak ${run.peakRssMb} MB (+${run.growthMb})`,
      )
    }
  }
  if (importWanted) {
    imported = await runImportBench(
      server.url,
      db,
      (business) => benchToken(jwtSecret, business),
      () => server.cpuSeconds(),
    )
    console.log(
      `${'import'.padEnd(34)} ${imported.status}: ${imported.counts.processed} of ${imported.rows} rows in ${imported.totalSeconds} s (upload ${imported.uploadSeconds} s, queued ${imported.queuedSeconds} s, job ${imported.jobSeconds} s), ${imported.rowsPerSecond} rows/s; service CPU ${imported.serviceCpuSeconds} s, machine busy ${Math.round(imported.machineBusyShare * 100)} %; counts ${imported.exact ? 'exact' : 'NOT exact'}`,
    )
  }
  if (deliveriesWanted) {
    deliveries = await runDeliveryBench(
      server.url,
      db,
      fixture.businessId,
      fixture.customerIds,
      `Bearer ${token}`,
      { rate: values['delivery-rate'], seconds: values['delivery-seconds'] },
    )
    const { lag } = deliveries
    console.log(
      `${'deliveries'.padEnd(34)} ${deliveries.eventsGenerated} events (${deliveries.sentRate}/s), ${deliveries.delivered} delivered, ${deliveries.missing} missing, ${deliveries.duplicates} duplicates; lag p50 ${lag.p50} ms, p95 ${lag.p95} ms, p99 ${lag.p99} ms, max ${lag.max} ms: ${deliveries.met ? 'met' : 'NOT met'}`,
    )
  }
  if (overloadWanted) {
    overload = await runOverload(
      server.url,
      server.probeUrl,
      `/api/customers/${fixture.businessId}/${fixture.customerIds[0] ?? 1}`,
      `Bearer ${token}`,
    )
    console.log(
      `${'overload'.padEnd(34)} ${overload.served} × 200, ${overload.shed} × 503 overloaded, ${overload.other} other; p99 ${overload.p99} ms; probe port: /health p99 ${overload.health.p99} ms, longest ${overload.health.longest} ms, /ready longest ${overload.ready.longest} ms; main port /health longest ${overload.mainHealth.longest} ms`,
    )
  }
} finally {
  const peak = server.memory().peak
  await server.stop()
  await db.destroy()
  const date = new Date().toISOString().slice(0, 10)
  const facts = await databaseFacts(databaseUrl)
  const report = {
    date: new Date().toISOString(),
    machine: {
      cores: cpus().length,
      node: process.version,
      postgres: facts.postgres,
      loadAverage: { start: round2(loadAtStart), end: round2(loadavg()) },
    },
    settings: {
      duration,
      warmup,
      connections,
      businessId,
      customers: facts.customers,
      sales: facts.sales,
    },
    peakRssMb: Math.round(peak),
    idleCpu: idle,
    results,
    ...(overload ? { overload } : {}),
    ...(exported ? { export: exported } : {}),
    ...(imported ? { import: imported } : {}),
    ...(outbox ? { outbox } : {}),
    ...(deliveries ? { deliveries } : {}),
  }
  mkdirSync(values.out, { recursive: true })
  const name = `${values.out}/${date}${fullRun ? '' : '-subset'}`
  writeFileSync(`${name}.json`, `${JSON.stringify(report, null, 2)}\n`)
  const markdown = renderMarkdown(report)
  writeFileSync(`${name}.md`, markdown)
  const written = [`${name}.json`, `${name}.md`]
  if (fullRun) {
    writeFileSync(`${values.out}/latest.md`, markdown)
    written.push(`${values.out}/latest.md`)
  }
  console.log(`\n${markdown}\nwritten: ${written.join(', ')}`)
}

if (values.check) {
  const failures = results.filter((result) => result.non2xx > 0 || result.totalsExact === false)
  for (const failure of failures) {
    console.error(`bench check: ${failure.scenario}: ${JSON.stringify(failure.statusCodes)}`)
  }
  // The answers, not the latencies: a CI machine is shared, the bounds are read on a quiet one.
  const overloadFailed = overload !== undefined && (overload.other > 0 || overload.unreachable > 0)
  if (overloadFailed) console.error(`bench check: overload: ${JSON.stringify(overload)}`)
  const exportFailed = exported?.runs.some(
    (run) => run.status !== 200 || run.rows !== exported?.expectedRows,
  )
  if (exportFailed) console.error(`bench check: export: ${JSON.stringify(exported)}`)
  const importFailed = imported !== undefined && !imported.exact
  if (importFailed) console.error(`bench check: import: ${JSON.stringify(imported)}`)
  const deliveriesFailed =
    deliveries !== undefined && (deliveries.missing > 0 || deliveries.unexpected > 0)
  if (deliveriesFailed) console.error(`bench check: deliveries: ${JSON.stringify(deliveries)}`)
  const outboxLeftOff = outbox !== undefined && !outbox.enabledAtEnd
  if (outboxLeftOff) console.error('bench check: the outbox triggers are not all enabled')
  if (
    failures.length > 0 ||
    deliveriesFailed ||
    outboxLeftOff ||
    overloadFailed ||
    exportFailed ||
    importFailed ||
    (results.length === 0 && !overload && !exported && !imported && !deliveries)
  ) {
    process.exit(1)
  }
}

function round2(values: number[]): number[] {
  return values.map((value) => Math.round(value * 100) / 100)
}

/** Active customers of the business: every row an export must hold. */
async function activeCustomers(url: string): Promise<number> {
  const { db: counter } = await connectDatabase({ kind: 'postgres', url, poolMax: 1 })
  try {
    const row = await counter
      .selectFrom('customer_counts')
      .select((eb) => eb.fn.sum<string>('count').as('n'))
      .where('business_id', '=', businessId)
      .where('is_active', '=', true)
      .executeTakeFirst()
    return Number(row?.n ?? 0)
  } finally {
    await counter.destroy()
  }
}

/**
 * The business's size and the server it ran on: its version, and its buffer pool
 * (`shared_buffers`), which sets how much of the data PostgreSQL keeps in its own memory.
 */
async function databaseFacts(url: string): Promise<{
  customers: number
  sales: number
  postgres: { version: string; sharedBuffers: string }
}> {
  const { db: counter } = await connectDatabase({ kind: 'postgres', url, poolMax: 1 })
  try {
    const customers = await counter
      .selectFrom('customer_counts')
      .select((eb) => eb.fn.sum<string>('count').as('n'))
      .where('business_id', '=', businessId)
      .executeTakeFirst()
    const { rows } = await sql<{ n: string }>`select count(*)::text as n from customer_sales
      where business_id = ${businessId}`.execute(counter)
    const { rows: server } = await sql<{ version: string; shared_buffers: string }>`select
      split_part(current_setting('server_version'), ' ', 1) as version,
      current_setting('shared_buffers') as shared_buffers`.execute(counter)
    return {
      customers: Number(customers?.n ?? 0),
      sales: Number(rows[0]?.n ?? 0),
      postgres: {
        version: server[0]?.version ?? '',
        sharedBuffers: server[0]?.shared_buffers ?? '',
      },
    }
  } finally {
    await counter.destroy()
  }
}
