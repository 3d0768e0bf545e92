/**
 * The outbox's cost (issue 18, "Events out"): the write scenarios run with the outbox's triggers
 * enabled and disabled on the same database, in alternating rounds (on, off, then off, on, …, so
 * a drift of the machine over the sitting weighs on both alike), and compared by their mean
 * req/s. Target: the outbox adds at most 10 % ("on" at least 0.9 × "off").
 *
 * Disabled are the two deferred triggers that write the events at commit (on customer_changes and
 * customer_purchase_history, migration 2026-12-04T1300). They are enabled again whatever happens
 * (and checked), and the events the rounds wrote are deleted at the end, so the next run starts
 * from the same outbox.
 */
import { sql, type Kysely } from 'kysely'
import type { Database } from '../db/database.js'

export const OUTBOX_OVERHEAD_TARGET = 0.1

const OUTBOX_TRIGGERS = [
  { table: 'customer_changes', trigger: 'customer_events_of_changes' },
  { table: 'customer_purchase_history', trigger: 'customer_events_of_histories' },
] as const

/** Enables or disables the triggers that write events (the service must be idle: ALTER TABLE). */
export async function setOutbox(db: Kysely<Database>, enabled: boolean): Promise<void> {
  for (const { table, trigger } of OUTBOX_TRIGGERS) {
    await sql`alter table ${sql.table(table)} ${sql.raw(enabled ? 'enable' : 'disable')}
      trigger ${sql.ref(trigger)}`.execute(db)
  }
}

/** True when every trigger that writes events is enabled. */
export async function outboxEnabled(db: Kysely<Database>): Promise<boolean> {
  const { rows } = await sql<{ enabled: number }>`select count(*)::int as enabled
    from pg_trigger where tgname like 'customer_events%' and tgenabled = 'O'`.execute(db)
  return rows[0]?.enabled === OUTBOX_TRIGGERS.length
}

/** The highest event id so far (0 without events): the rounds' events are those above it. */
export async function lastEventId(db: Kysely<Database>): Promise<number> {
  const { rows } = await sql<{ id: string | null }>`select max(id)::text as id
    from customer_events`.execute(db)
  return Number(rows[0]?.id ?? 0)
}

/** Deletes the events after `afterId` (the rounds'); returns how many. */
export async function deleteEventsAfter(db: Kysely<Database>, afterId: number): Promise<number> {
  const result = await sql`delete from customer_events where id > ${afterId}`.execute(db)
  return Number(result.numAffectedRows ?? 0)
}

export interface OutboxRun {
  round: number
  outbox: 'on' | 'off'
  scenario: string
  rps: number
  p50: number
  p99: number
  non2xx: number
}

export interface OutboxComparison {
  scenario: string
  on: number[]
  off: number[]
  /** mean(on) ÷ mean(off). */
  ratio: number
  met: boolean
}

export interface OutboxResult {
  rounds: number
  runs: OutboxRun[]
  comparisons: OutboxComparison[]
  /** Events the rounds wrote (deleted afterwards). */
  eventsWritten: number
  /** Checked after the triggers were enabled again. */
  enabledAtEnd: boolean
}

/** The order of round `round` (0-based): on, off; then off, on; and so on. */
export const outboxOrder = (round: number): boolean[] =>
  round % 2 === 0 ? [true, false] : [false, true]

/** A scenario's figures (report.ts `ScenarioResult` has these among others). */
type MeasuredRun = Pick<OutboxRun, 'scenario' | 'rps' | 'p50' | 'p99' | 'non2xx'>

export function runOf(round: number, enabled: boolean, result: MeasuredRun): OutboxRun {
  return {
    round: round + 1,
    outbox: enabled ? 'on' : 'off',
    scenario: result.scenario,
    rps: result.rps,
    p50: result.p50,
    p99: result.p99,
    non2xx: result.non2xx,
  }
}

const mean = (values: number[]): number =>
  values.reduce((sum, value) => sum + value, 0) / Math.max(1, values.length)

export function compareOutbox(runs: OutboxRun[]): OutboxComparison[] {
  const scenarios = [...new Set(runs.map((run) => run.scenario))]
  return scenarios.map((scenario) => {
    const of = (outbox: 'on' | 'off') =>
      runs.filter((run) => run.scenario === scenario && run.outbox === outbox).map((run) => run.rps)
    const on = of('on')
    const off = of('off')
    const ratio = mean(on) / mean(off)
    return { scenario, on, off, ratio, met: ratio >= 1 - OUTBOX_OVERHEAD_TARGET }
  })
}

export function renderOutbox(result: OutboxResult): string {
  const rps = (values: number[]) => values.map((value) => value.toFixed(0)).join(', ')
  return [
    `## Outbox on ÷ off (${result.rounds} rounds, alternating order)`,
    '',
    '| round | outbox | scenario | req/s | p50 ms | p99 ms | non-2xx |',
    '|---|---|---|---|---|---|---|',
    ...result.runs.map(
      (run) =>
        `| ${run.round} | ${run.outbox} | ${run.scenario} | ${run.rps.toFixed(0)} | ${run.p50} | ${run.p99} | ${run.non2xx} |`,
    ),
    '',
    '| scenario | req/s, outbox on | req/s, outbox off | on ÷ off | target (≥ 0.90) |',
    '|---|---|---|---|---|',
    ...result.comparisons.map(
      (row) =>
        `| ${row.scenario} | ${rps(row.on)} (mean ${mean(row.on).toFixed(0)}) | ${rps(row.off)} (mean ${mean(row.off).toFixed(0)}) | ${row.ratio.toFixed(3)} | ${row.met ? 'met' : 'NOT met'} |`,
    ),
    '',
    `Events written by the rounds: ${result.eventsWritten.toLocaleString('en')} (deleted afterwards). Outbox triggers enabled at the end: ${result.enabledAtEnd ? 'yes' : 'NO'}.`,
    '',
  ].join('\n')
}
