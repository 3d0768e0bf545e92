import autocannon from 'autocannon'
import type { Kysely } from 'kysely'
import type { Database } from '../db/database.js'
import { cpuSnapshot, cpuUsageBetween, type CpuUsage } from './cpu.js'
import { runLoad, type LoadResult } from './raw-sql.js'
import type { Fixture, Scenario } from './scenarios.js'

/**
 * `connections` autocannon connections on `url` for `seconds`, each request built by the
 * scenario from the next of its numbers, with the bench's token (and the scenario's headers).
 */
export function httpScenarioLoad(
  url: string,
  token: string,
  scenario: Scenario,
  fixture: Fixture,
  nextNumber: () => number,
  connections: number,
  seconds: number,
): Promise<autocannon.Result> {
  return autocannon({
    url,
    connections,
    duration: seconds,
    headers: { authorization: `Bearer ${token}` },
    requests: [
      {
        setupRequest: (request) => {
          const next = scenario.request(fixture, nextNumber())
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
}

/** How long a load runs unrecorded, then recorded, and /proc's ticks per second. */
export interface LoadWindow {
  warmup: number
  seconds: number
  ticksPerSecond: number
}

/**
 * A load run `warmup` seconds unrecorded, then `seconds` recorded, with the CPU every process
 * spent per completed request; `pid` is the process that sends the SQL (this bench's own for the
 * raw SQL floor).
 */
export async function recordedLoad<Result>(
  db: Kysely<Database>,
  pid: number,
  { warmup, seconds, ticksPerSecond }: LoadWindow,
  run: (seconds: number) => Promise<Result>,
  completed: (result: Result) => number,
): Promise<{ result: Result; cpu: CpuUsage }> {
  if (warmup > 0) await run(warmup)
  const start = await cpuSnapshot(db, pid)
  const result = await run(seconds)
  const end = await cpuSnapshot(db, pid)
  const cpu = cpuUsageBetween(start, end, completed(result), ticksPerSecond, pid === process.pid)
  return { result, cpu }
}

/** The raw SQL floor of a scenario: its statement through `pg` from this process, recorded. */
export async function rawSqlLoad(
  db: Kysely<Database>,
  work: NonNullable<Scenario['rawSql']>,
  fixture: Fixture,
  connections: number,
  window: LoadWindow,
): Promise<LoadResult & { cpu: CpuUsage }> {
  const { result, cpu } = await recordedLoad(
    db,
    process.pid,
    window,
    (seconds) => runLoad((n) => work(db, fixture, n), connections, seconds),
    (load) => load.requests,
  )
  return { ...result, cpu }
}
