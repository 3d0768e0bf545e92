/**
 * `npm run bench:http-floor`: how near the raw SQL floor any Node HTTP service can come on this
 * machine, beside the service itself, in one run.
 *
 * Issue 19 asks for API ÷ raw SQL ≥ 0.7 on get customer and metrics. Both loads share the
 * machine's two cores with their client, so req/s follows the CPU one request costs in every
 * process. This puts a third measurement between the two: a bare `node:http` server that answers
 * the same paths with the same statement through the same pool and `JSON.stringify`, and nothing
 * else (no routing library, authentication, validation, limits, metrics, logs or headers). What
 * it reaches bounds what the service could reach by doing less per request.
 *
 * For each scenario, in turn and `--rounds` times: the service (built and started as
 * `npm run bench` does), the bare server (a child process on this Node), the raw SQL floor
 * (this process through `pg`); each `--warmup` seconds unrecorded, then `--duration` recorded,
 * 20 connections. The bare server runs through production's launcher, with the service's memory
 * settings. Writes bench/results/<date and time>-http-floor.md and .json.
 */
import { randomBytes } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { cpus } from 'node:os'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import type { Kysely } from 'kysely'
import { connectDatabase } from '../db/connect.js'
import { findMetricsRow } from '../db/customer-purchase-history.js'
import { findCustomerDetail } from '../db/customers.js'
import type { Database } from '../db/database.js'
import { clockTicksPerSecond } from './cpu.js'
import { loadFixture } from './fixture.js'
import { httpScenarioLoad, rawSqlLoad, recordedLoad } from './loads.js'
import { SCENARIOS, type Fixture, type Scenario } from './scenarios.js'
import { benchToken, launch, startServer } from './server.js'
import {
  nonNegativeInteger,
  optional,
  parseCommandLine,
  portNumber,
  positiveInteger,
  withDefault,
} from '../scripts/cli.js'

const CONNECTIONS = 20
const BUSINESS = 5
const SCENARIO_NAMES = ['get customer', 'metrics']

/** The bare server's whole work: the statement the endpoint runs, its row as JSON. */
async function bareAnswer(db: Kysely<Database>, url: string): Promise<string | undefined> {
  const match = /^\/api\/customers\/(\d+)\/(\d+)(\/metrics)?$/.exec(url)
  if (!match) return undefined
  const business = Number(match[1])
  const customer = Number(match[2])
  const row = match[3]
    ? await findMetricsRow(db, business, customer)
    : await findCustomerDetail(db, business, customer, 100)
  return row === undefined ? undefined : JSON.stringify(row)
}

async function serveBare(databaseUrl: string, port: number): Promise<void> {
  const { db } = await connectDatabase({ kind: 'postgres', url: databaseUrl, poolMax: CONNECTIONS })
  const server = createServer((request, response) => {
    bareAnswer(db, request.url ?? '').then(
      (body) => {
        if (body === undefined) response.writeHead(404).end()
        else
          response
            .writeHead(200, {
              'content-type': 'application/json; charset=utf-8',
              'content-length': Buffer.byteLength(body),
            })
            .end(body)
      },
      () => response.writeHead(500).end(),
    )
  })
  server.on('error', (error) => {
    console.error(`the bare server: ${error.message}`)
    process.exit(1)
  })
  server.listen(port, '127.0.0.1')
}

interface Measured {
  scenario: string
  target: 'service' | 'bare node:http' | 'raw SQL'
  round: number
  rps: number
  p99: number
  non2xx: number
  /** The process that sent the SQL: the service, the bare server or (raw) this bench. */
  processMs: number
  postgresMs: number
  /** autocannon (this process) for the HTTP targets. */
  clientMs: number
  /** Every process's CPU per request: what sets req/s on a saturated machine. */
  totalMs: number
}

const commandLine = {
  command: 'npm run bench:http-floor',
  summary:
    'The service, a bare node:http server and the raw SQL floor in turns on get customer and metrics, on DATABASE_URL (seeded as for npm run bench); writes bench/results/<date>T<hhmm>-http-floor.md and .json. See bench/README.md.',
  options: {
    rounds: withDefault(positiveInteger, {
      placeholder: '<n>',
      description: 'rounds of the three',
      default: 2,
    }),
    duration: withDefault(positiveInteger, {
      placeholder: '<s>',
      description: 'recorded seconds per load',
      default: 10,
    }),
    warmup: withDefault(nonNegativeInteger, {
      placeholder: '<s>',
      description: 'unrecorded seconds of the same load before each',
      default: 3,
    }),
    serve: optional(portNumber, {
      placeholder: '<port>',
      description: 'run as the bare server on this port (the bench starts it so)',
      absent: 'measure',
    }),
  },
}

async function measureAll(
  databaseUrl: string,
  { duration, warmup, rounds }: { duration: number; warmup: number; rounds: number },
): Promise<void> {
  const ticksPerSecond = clockTicksPerSecond()
  const { db } = await connectDatabase({ kind: 'postgres', url: databaseUrl, poolMax: CONNECTIONS })
  const webhookSecret = randomBytes(24).toString('base64url')
  const { fixture } = await loadFixture(db, BUSINESS, webhookSecret)
  const jwtSecret = randomBytes(32).toString('base64url')
  const token = benchToken(jwtSecret, BUSINESS)
  const service = await startServer(
    { DATABASE_URL: databaseUrl, JWT_SECRET: jwtSecret, SALES_WEBHOOK_SECRET: webhookSecret },
    4100,
    4101,
  )
  const barePort = 4102
  // Production's launcher, as the service starts (its V8 and malloc settings), this file
  // through tsx's loader instead of a compiled entry.
  const bare = launch(
    ['--import', 'tsx', fileURLToPath(import.meta.url), '--serve', String(barePort)],
    { NODE_ENV: 'production' },
  )
  const bareUrl = `http://127.0.0.1:${barePort}`
  const results: Measured[] = []
  try {
    await waitForBare(bareUrl, fixture, () => bare.exitCode !== null)
    const scenarios = SCENARIOS.filter((scenario) => SCENARIO_NAMES.includes(scenario.name))
    if (scenarios.length !== SCENARIO_NAMES.length) {
      throw new Error(`bench/scenarios.ts names none of: ${SCENARIO_NAMES.join(', ')}`)
    }
    let sequence = 0
    const http = (url: string, scenario: Scenario, seconds: number) =>
      httpScenarioLoad(url, token, scenario, fixture, () => sequence++, CONNECTIONS, seconds)
    const record = (row: Measured) => {
      results.push(row)
      report(row)
    }
    const window = { warmup, seconds: duration, ticksPerSecond }
    for (let round = 1; round <= rounds; round += 1) {
      for (const scenario of scenarios) {
        const targets = [
          { target: 'service' as const, url: service.url, pid: service.process.pid ?? 0 },
          { target: 'bare node:http' as const, url: bareUrl, pid: bare.pid ?? 0 },
        ]
        for (const { target, url, pid } of targets) {
          const { result, cpu } = await recordedLoad(
            db,
            pid,
            window,
            (seconds) => http(url, scenario, seconds),
            (load) => load.requests.total,
          )
          const clientMs = perRequest(cpu.benchSeconds, result.requests.total)
          record({
            scenario: scenario.name,
            target,
            round,
            rps: result.requests.average,
            p99: result.latency.p99,
            non2xx: result.non2xx + result.errors + result.timeouts,
            processMs: cpu.processMsPerRequest,
            postgresMs: cpu.postgresMsPerRequest,
            clientMs,
            totalMs: round3(cpu.processMsPerRequest + cpu.postgresMsPerRequest + clientMs),
          })
        }
        if (!scenario.rawSql) continue
        const load = await rawSqlLoad(db, scenario.rawSql, fixture, CONNECTIONS, window)
        const { cpu } = load
        record({
          scenario: scenario.name,
          target: 'raw SQL',
          round,
          rps: load.rps,
          p99: load.p99,
          non2xx: load.errors,
          processMs: cpu.processMsPerRequest,
          postgresMs: cpu.postgresMsPerRequest,
          clientMs: 0,
          totalMs: round3(cpu.processMsPerRequest + cpu.postgresMsPerRequest),
        })
      }
    }
  } finally {
    bare.kill('SIGTERM')
    await service.stop()
    await db.destroy()
  }
  write(results, { duration, warmup, rounds })
}

const round3 = (value: number) => Math.round(value * 1000) / 1000
const perRequest = (seconds: number, requests: number) =>
  requests > 0 ? round3((seconds * 1000) / requests) : 0

async function waitForBare(url: string, fixture: Fixture, exited: () => boolean): Promise<void> {
  for (let attempt = 0; attempt < 300; attempt += 1) {
    if (exited()) throw new Error('the bare server exited')
    try {
      const response = await fetch(`${url}/api/customers/${BUSINESS}/${fixture.customerIds[0]}`)
      if (response.ok) return
    } catch {
      // not listening yet
    }
    await sleep(100)
  }
  throw new Error('the bare server did not answer')
}

function report(row: Measured): void {
  console.log(
    `${row.scenario.padEnd(14)} ${row.target.padEnd(15)} round ${row.round}: ${row.rps.toFixed(0).padStart(6)} req/s, ` +
      `p99 ${row.p99.toFixed(1)} ms, CPU/req: process ${row.processMs}, PG ${row.postgresMs}, client ${row.clientMs}, all ${row.totalMs} ms`,
  )
}

function write(results: Measured[], settings: Record<string, number>): void {
  // Date and time: a second run the same day keeps the first.
  const date = new Date().toISOString().slice(0, 16).replace(':', '')
  const directory = fileURLToPath(new URL('results/', import.meta.url))
  mkdirSync(directory, { recursive: true })
  const header = [
    '| scenario | round | target | req/s | p99 ms | non-2xx | sender CPU ms/req | PG CPU ms/req | client CPU ms/req | all CPU ms/req | ÷ raw req/s |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ]
  const rows = results.map((row) => {
    const raw = results.find(
      (other) =>
        other.scenario === row.scenario && other.round === row.round && other.target === 'raw SQL',
    )
    const ratio = raw && raw.rps > 0 ? (row.rps / raw.rps).toFixed(2) : ''
    return `| ${row.scenario} | ${row.round} | ${row.target} | ${row.rps.toFixed(0)} | ${row.p99.toFixed(1)} | ${row.non2xx} | ${row.processMs} | ${row.postgresMs} | ${row.clientMs} | ${row.totalMs} | ${ratio} |`
  })
  const markdown = [
    `# HTTP floor ${new Date().toISOString()}`,
    '',
    `${cpus().length} cores, Node ${process.version}; business ${BUSINESS}, ${CONNECTIONS} connections, ${settings.duration} s per load after ${settings.warmup} s of warm-up, ${settings.rounds} rounds. "sender" is the process that sends the SQL (the service, the bare server, or this bench for raw SQL); "client" is autocannon in this bench; CPU from /proc over the recorded window.`,
    '',
    ...header,
    ...rows,
    '',
  ].join('\n')
  writeFileSync(`${directory}${date}-http-floor.md`, markdown)
  writeFileSync(
    `${directory}${date}-http-floor.json`,
    `${JSON.stringify({ settings, results }, null, 2)}\n`,
  )
  console.log(`wrote bench/results/${date}-http-floor.md and .json`)
}

const databaseUrl = process.env.DATABASE_URL
if (!databaseUrl) {
  console.error('npm run bench:http-floor: DATABASE_URL must name the seeded benchmark database')
  process.exit(2)
}
const options = parseCommandLine(commandLine)
if (options.serve !== undefined) await serveBare(databaseUrl, options.serve)
else await measureAll(databaseUrl, options)
