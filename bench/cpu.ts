import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { sql, type Kysely } from 'kysely'
import type { Database } from '../db/database.js'

/** The fields of one `/proc/<pid>/stat` line that the bench reads. */
export interface ProcStat {
  pid: number
  comm: string
  ppid: number
  /** User and system CPU time of every thread of the process, in clock ticks. */
  utime: number
  stime: number
}

/**
 * One `/proc/<pid>/stat` line. The command name sits in parentheses and may itself hold spaces and
 * parentheses, so the fields after it are counted from its last closing parenthesis.
 */
export function parseProcStat(line: string): ProcStat {
  const open = line.indexOf('(')
  const close = line.lastIndexOf(')')
  if (open < 0 || close < open) throw new Error(`not a /proc/<pid>/stat line: ${line}`)
  // From field 3 (state) on; utime and stime are fields 14 and 15.
  const fields = line
    .slice(close + 1)
    .trim()
    .split(/\s+/)
  const field = (n: number) => Number(fields[n - 3])
  const stat = {
    pid: Number(line.slice(0, open).trim()),
    comm: line.slice(open + 1, close),
    ppid: field(4),
    utime: field(14),
    stime: field(15),
  }
  if (![stat.pid, stat.ppid, stat.utime, stat.stime].every(Number.isInteger)) {
    throw new Error(`not a /proc/<pid>/stat line: ${line}`)
  }
  return stat
}

/** USER_HZ, the unit of /proc's CPU times (100 on Linux almost everywhere). */
export function clockTicksPerSecond(): number {
  try {
    const ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim())
    return Number.isInteger(ticks) && ticks > 0 ? ticks : 100
  } catch {
    return 100
  }
}

function statOf(pid: number): ProcStat | undefined {
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    // The process has exited.
    return undefined
  }
}

/** CPU ticks a process has used so far, its worker threads included; 0 once it has gone. */
export function processTicks(pid: number): number {
  const stat = statOf(pid)
  return stat ? stat.utime + stat.stime : 0
}

/** Busy and total ticks of the whole machine, every core (from the first line of /proc/stat). */
export function machineTicks(): { busy: number; total: number } {
  const [, ...fields] = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '')
    .trim()
    .split(/\s+/)
  const ticks = fields.map(Number)
  const total = ticks.reduce((sum, value) => sum + value, 0)
  // idle and iowait
  const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0)
  return { busy: total - idle, total }
}

/** Every process named postgres on the machine: its CPU ticks so far. */
function postgresTicks(): Map<number, number> {
  const ticks = new Map<number, number>()
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const stat = statOf(Number(entry))
    if (stat?.comm.startsWith('postgres')) ticks.set(stat.pid, stat.utime + stat.stime)
  }
  return ticks
}

/**
 * What a PostgreSQL process works for: this database (its backends), the server as a whole
 * (walwriter, checkpointer, the postmaster: no database), or another database (another load on
 * the shared server, kept apart).
 */
export type PostgresRole = 'ours' | 'server' | 'other database'

async function postgresRoles(db: Kysely<Database>): Promise<Map<number, PostgresRole>> {
  const { rows } = await sql<{ pid: number; datname: string | null; ours: boolean }>`
    select pid, datname, datname = current_database() as ours from pg_stat_activity`.execute(db)
  return new Map(
    rows.map((row) => [
      row.pid,
      row.datname === null ? 'server' : row.ours ? 'ours' : 'other database',
    ]),
  )
}

/** The CPU ticks, at one instant, of everything a scenario's recorded window is charged with. */
export interface CpuSnapshot {
  /** The process that sends the SQL: the service, or this bench for the raw SQL floor. */
  process: number
  /** This bench's own process (autocannon runs in it). */
  bench: number
  postgres: Map<number, { ticks: number; role: PostgresRole }>
  machine: { busy: number; total: number }
  /** performance.now() */
  at: number
}

export async function cpuSnapshot(db: Kysely<Database>, pid: number): Promise<CpuSnapshot> {
  const roles = await postgresRoles(db)
  const postgres = new Map<number, { ticks: number; role: PostgresRole }>()
  for (const [postgresPid, ticks] of postgresTicks()) {
    // Not in pg_stat_activity: the postmaster (or a backend not yet listed there).
    postgres.set(postgresPid, { ticks, role: roles.get(postgresPid) ?? 'server' })
  }
  return {
    process: processTicks(pid),
    bench: processTicks(process.pid),
    postgres,
    machine: machineTicks(),
    at: performance.now(),
  }
}

/** The CPU a recorded window used, in total and per completed request. */
export interface CpuUsage {
  seconds: number
  requests: number
  /** The process that sent the SQL (the service; for the raw SQL floor, this bench). */
  processSeconds: number
  processMsPerRequest: number
  /** PostgreSQL: this database's backends and the server's own processes. */
  postgresSeconds: number
  postgresMsPerRequest: number
  /** Of postgresSeconds, the server's own processes (shared with any other database's writes). */
  postgresServerSeconds: number
  /** Backends of other databases: another load on the shared server, not counted above. */
  otherDatabasesSeconds: number
  /** This bench's process (autocannon for the HTTP scenarios), when it is not the one above. */
  benchSeconds: number
  /** Busy CPU of the machine not accounted for above: other processes on the shared machine. */
  elsewhereSeconds: number
  /** Of every core's time in the window. */
  machineBusyShare: number
}

const round = (value: number, places: number) => Math.round(value * 10 ** places) / 10 ** places

/**
 * The usage between two snapshots. A PostgreSQL process seen only at the end was started in the
 * window and counts whole; one seen only at the start exited in the window and its CPU there is
 * lost (rare: the pools keep their connections).
 */
export function cpuUsageBetween(
  start: CpuSnapshot,
  end: CpuSnapshot,
  requests: number,
  ticksPerSecond: number,
  processIsBench = false,
): CpuUsage {
  const seconds = (ticks: number) => ticks / ticksPerSecond
  const perRequest = (ticks: number) => (requests > 0 ? (seconds(ticks) * 1000) / requests : 0)
  let ours = 0
  let server = 0
  let others = 0
  for (const [pid, { ticks, role }] of end.postgres) {
    const used = ticks - (start.postgres.get(pid)?.ticks ?? 0)
    if (role === 'other database') others += used
    else ours += used
    if (role === 'server') server += used
  }
  const processUsed = end.process - start.process
  const benchUsed = processIsBench ? 0 : end.bench - start.bench
  const busy = end.machine.busy - start.machine.busy
  const total = end.machine.total - start.machine.total
  return {
    seconds: round((end.at - start.at) / 1000, 2),
    requests,
    processSeconds: round(seconds(processUsed), 2),
    processMsPerRequest: round(perRequest(processUsed), 3),
    postgresSeconds: round(seconds(ours), 2),
    postgresMsPerRequest: round(perRequest(ours), 3),
    postgresServerSeconds: round(seconds(server), 2),
    otherDatabasesSeconds: round(seconds(others), 2),
    benchSeconds: round(seconds(benchUsed), 2),
    elsewhereSeconds: round(
      Math.max(0, seconds(busy - processUsed - ours - others - benchUsed)),
      2,
    ),
    machineBusyShare: total > 0 ? round(busy / total, 2) : 0,
  }
}
