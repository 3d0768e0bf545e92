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

/**
 * The raw SQL floor of a scenario: its statement through `pg` from this process, `warmup` seconds
 * unrecorded, then `seconds` recorded with the CPU every process spent per request.
 */
export async function rawSqlLoad(
  db: Kysely<Database>,
  work: NonNullable<Scenario['rawSql']>,
  fixture: Fixture,
  connections: number,
  warmup: number,
  seconds: number,
  ticksPerSecond: number,
): Promise<LoadResult & { cpu: CpuUsage }> {
  if (warmup > 0) await runLoad((n) => work(db, fixture, n), connections, warmup)
  const start = await cpuSnapshot(db, process.pid)
  const load = await runLoad((n) => work(db, fixture, n), connections, seconds)
  const end = await cpuSnapshot(db, process.pid)
  return { ...load, cpu: cpuUsageBetween(start, end, load.requests, ticksPerSecond, true) }
}
