/**
 * `npm run bench [-- --scenarios get,list --duration 10 --warmup 3 --connections 20 --business 5]`:
 * starts the service on DATABASE_URL (seed it first with `npm run seed`), runs every scenario
 * with autocannon (after an unrecorded warm-up of the same load), then runs the same SQL through `pg` directly at the same concurrency (the
 * floor), and writes bench/results/<date>.json and .md (and latest.md).
 */
import { randomBytes } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import autocannon from 'autocannon'
import { createSigner } from 'fast-jwt'
import { sql } from 'kysely'
import { connectDatabase } from '../db/connect.js'
import { findStalePurchaseHistory } from '../db/customer-purchase-history.js'
import { runLoad, type LoadResult } from './raw-sql.js'
import { SCENARIOS, type Fixture, type Scenario } from './scenarios.js'
import { startServer, type BenchServer } from './server.js'
import { renderMarkdown, type ScenarioResult } from './report.js'

const { values } = parseArgs({
  options: {
    scenarios: { type: 'string' },
    duration: { type: 'string', default: '10' },
    // Unrecorded seconds of the same load first: the JIT warms up and the scenario's pages are
    // read into the cache (this machine's kernel reclaims page cache that has gone cold).
    warmup: { type: 'string', default: '3' },
    connections: { type: 'string', default: '20' },
    business: { type: 'string', default: '5' },
    port: { type: 'string', default: '3999' },
    out: { type: 'string', default: 'bench/results' },
    // CI's smoke run: exit 1 on any non-2xx answer or inexact totals.
    check: { type: 'boolean', default: false },
  },
})
const duration = Number(values.duration)
const warmup = Number(values.warmup)
const connections = Number(values.connections)
const businessId = Number(values.business)
const databaseUrl = process.env.DATABASE_URL
if (!databaseUrl) {
  console.error('DATABASE_URL must name the seeded benchmark database (see npm run seed)')
  process.exit(2)
}
const wanted = values.scenarios?.split(',').map((name) => name.trim().toLowerCase())
const scenarios = SCENARIOS.filter(
  (scenario) => !wanted || wanted.some((name) => scenario.name.toLowerCase().includes(name)),
)

const jwtSecret = randomBytes(32).toString('base64url')
const webhookSecret = randomBytes(24).toString('base64url')
const token = createSigner({ key: jwtSecret, expiresIn: 3_600_000 })({
  sub: 1,
  businesses: [businessId],
})

const { db } = await connectDatabase({
  kind: 'postgres',
  url: databaseUrl,
  poolMax: connections,
})

async function loadFixture(): Promise<Fixture> {
  const { rows } = await sql<{ id: string; phone: string | null; email: string | null }>`
    -- Row sampling: page sampling (system) of a 20,000-customer seed sometimes drew under 100 rows.
    select id, phone, email from customers tablesample bernoulli (2)
    where business_id = ${businessId} and is_active limit 5000`.execute(db)
  if (rows.length < 100)
    throw new Error(`business ${businessId} has too few customers; run npm run seed`)
  return {
    businessId,
    customerIds: rows.map((row) => Number(row.id)),
    phoneFragments: rows.flatMap((row) => (row.phone ? [row.phone.slice(6, 13)] : [])),
    emailFragments: rows.flatMap((row) =>
      row.email ? [row.email.slice(1, row.email.indexOf('@'))] : [],
    ),
    webhookSecret,
    busyCustomerId: Number(rows[0]?.id),
  }
}

async function httpLoad(
  server: BenchServer,
  scenario: Scenario,
  fixture: Fixture,
  seconds: number,
) {
  let sequence = 0
  let peakRss = 0
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, server.memory().rss)
  }, 200)
  const result = await autocannon({
    url: server.url,
    connections,
    duration: seconds,
    headers: { authorization: `Bearer ${token}` },
    requests: [
      {
        setupRequest: (request) => {
          const next = scenario.request(fixture, sequence++)
          return {
            ...request,
            method: next.method,
            path: next.path,
            body: next.body,
            headers: { ...request.headers, ...next.headers },
          }
        },
      },
    ],
  })
  clearInterval(sampler)
  return { result, peakRss }
}

const fixture = await loadFixture()
const server = await startServer(
  { DATABASE_URL: databaseUrl, JWT_SECRET: jwtSecret, SALES_WEBHOOK_SECRET: webhookSecret },
  Number(values.port),
)
const results: ScenarioResult[] = []
try {
  for (const scenario of scenarios) {
    if (warmup > 0) await httpLoad(server, scenario, fixture, warmup)
    const { result, peakRss } = await httpLoad(server, scenario, fixture, duration)
    let raw: LoadResult | undefined
    if (scenario.rawSql) {
      const work = scenario.rawSql
      if (warmup > 0) await runLoad((n) => work(db, fixture, n), connections, warmup)
      raw = await runLoad((n) => work(db, fixture, n), connections, duration)
    }
    let exact: boolean | undefined
    if (scenario.name.startsWith('webhook')) {
      exact = (await findStalePurchaseHistory(db, businessId)).length === 0
    }
    const row: ScenarioResult = {
      scenario: scenario.name,
      rps: result.requests.average,
      p50: result.latency.p50,
      p99: result.latency.p99,
      non2xx: result.non2xx + result.errors + result.timeouts,
      statusCodes: Object.fromEntries(
        Object.entries(result.statusCodeStats ?? {}).map(([code, stats]) => [
          code,
          stats.count ?? 0,
        ]),
      ),
      peakRssMb: Math.round(peakRss),
      raw: raw && { rps: raw.rps, p50: raw.p50, p99: raw.p99, errors: raw.errors },
      target: scenario.target,
      totalsExact: exact,
    }
    results.push(row)
    console.log(
      `${scenario.name.padEnd(34)} ${row.rps.toFixed(0).padStart(6)} req/s  p50 ${row.p50} ms  p99 ${row.p99} ms  non-2xx ${row.non2xx}` +
        (raw
          ? `  | raw SQL ${raw.rps.toFixed(0)} req/s, API÷raw ${(row.rps / raw.rps).toFixed(2)}`
          : '') +
        (exact === undefined ? '' : `  | totals exact: ${exact}`),
    )
  }
} finally {
  const peak = server.memory().peak
  await server.stop()
  await db.destroy()
  const date = new Date().toISOString().slice(0, 10)
  const counts = await countRows(databaseUrl)
  const report = {
    date: new Date().toISOString(),
    machine: { cores: (await import('node:os')).cpus().length, node: process.version },
    settings: {
      duration,
      warmup,
      connections,
      businessId,
      customers: counts.customers,
      sales: counts.sales,
    },
    peakRssMb: Math.round(peak),
    results,
  }
  mkdirSync(values.out, { recursive: true })
  writeFileSync(`${values.out}/${date}.json`, `${JSON.stringify(report, null, 2)}\n`)
  const markdown = renderMarkdown(report)
  writeFileSync(`${values.out}/${date}.md`, markdown)
  writeFileSync(`${values.out}/latest.md`, markdown)
  console.log(`\n${markdown}\nwritten: ${values.out}/${date}.json, ${values.out}/${date}.md`)
}

if (values.check) {
  const failures = results.filter((result) => result.non2xx > 0 || result.totalsExact === false)
  for (const failure of failures) {
    console.error(`bench check: ${failure.scenario}: ${JSON.stringify(failure.statusCodes)}`)
  }
  if (failures.length > 0 || results.length === 0) process.exit(1)
}

async function countRows(url: string) {
  const { db: counter } = await connectDatabase({ kind: 'postgres', url, poolMax: 1 })
  try {
    const customers = await counter
      .selectFrom('customer_counts')
      .select((eb) => eb.fn.sum<string>('count').as('n'))
      .where('business_id', '=', businessId)
      .executeTakeFirst()
    const { rows } = await sql<{ n: string }>`select count(*)::text as n from customer_sales
      where business_id = ${businessId}`.execute(counter)
    return { customers: Number(customers?.n ?? 0), sales: Number(rows[0]?.n ?? 0) }
  } finally {
    await counter.destroy()
  }
}
