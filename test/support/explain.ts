import { CompiledQuery, Kysely, type Dialect } from 'kysely'
import type { Database } from '../../db/database.js'

export interface Captured {
  sql: string
  parameters: readonly unknown[]
}

/** Runs `work` against a Kysely that records the queries it sends; the first one and that Kysely. */
async function firstQueryOf(
  dialect: Dialect,
  work: (db: Kysely<Database>) => Promise<unknown>,
): Promise<{ db: Kysely<Database>; query: Captured }> {
  const captured: Captured[] = []
  const db = new Kysely<Database>({
    dialect,
    log: (event) => {
      captured.push({ sql: event.query.sql, parameters: event.query.parameters })
    },
  })
  await work(db)
  const query = captured[0]
  if (!query) throw new Error('the work ran no query')
  return { db, query }
}

/** EXPLAIN (FORMAT JSON) answers JSON text on PGlite and parsed JSON through pg. */
const parsedPlan = (raw: unknown): unknown =>
  typeof raw === 'string' ? (JSON.parse(raw) as unknown) : raw

/**
 * Runs `work` against a Kysely that records every query it sends, then EXPLAINs the first
 * one (JSON plan) — the plan of exactly the SQL a query module builds.
 */
export async function explainFirstQuery(
  dialect: Dialect,
  work: (db: Kysely<Database>) => Promise<unknown>,
): Promise<{ query: Captured; plan: unknown }> {
  const { db, query } = await firstQueryOf(dialect, work)
  const result = await db.executeQuery<{ 'QUERY PLAN': unknown }>(
    CompiledQuery.raw(`explain (format json) ${query.sql}`, [...query.parameters]),
  )
  return { query, plan: parsedPlan(result.rows[0]?.['QUERY PLAN']) }
}

/** A parameter as an SQL literal, for EXECUTE (the values the query modules pass). */
function literal(value: unknown): string {
  if (typeof value === 'number' || typeof value === 'bigint') return String(value)
  if (typeof value === 'boolean') return value ? 'true' : 'false'
  if (value === null) return 'null'
  if (value instanceof Date) return `'${value.toISOString()}'`
  return `'${String(value).replace(/'/g, "''")}'`
}

/**
 * The generic plan of the first query `work` sends: the plan a prepared statement settles on,
 * made without its values (what `executeFixedPlan` statements run once PostgreSQL switches).
 */
export async function explainGenericPlan(
  dialect: Dialect,
  work: (db: Kysely<Database>) => Promise<unknown>,
): Promise<{ query: Captured; plan: unknown }> {
  const { db, query } = await firstQueryOf(dialect, work)
  // One session for PREPARE, EXPLAIN EXECUTE and DEALLOCATE.
  const raw = await db.connection().execute(async (session) => {
    const run = (text: string) =>
      session.executeQuery<Record<string, unknown>>(CompiledQuery.raw(text))
    await run('set plan_cache_mode = force_generic_plan')
    await run(`prepare generic_plan_probe as ${query.sql}`)
    try {
      const args = query.parameters.map(literal).join(', ')
      const result = await run(`explain (format json) execute generic_plan_probe(${args})`)
      return result.rows[0]?.['QUERY PLAN']
    } finally {
      await run('deallocate generic_plan_probe')
      await run('reset plan_cache_mode')
    }
  })
  return { query, plan: parsedPlan(raw) }
}

/** Every node of a JSON plan, depth first. */
export function planNodes(plan: unknown): Record<string, unknown>[] {
  if (Array.isArray(plan)) return plan.flatMap(planNodes)
  if (!plan || typeof plan !== 'object') return []
  const node = plan as Record<string, unknown>
  return [node, ...Object.values(node).flatMap(planNodes)]
}

/** Every index name a JSON plan uses. */
export function indexesIn(plan: unknown): string[] {
  return planNodes(plan).flatMap((node) =>
    typeof node['Index Name'] === 'string' ? [node['Index Name']] : [],
  )
}

/** Relations a JSON plan reads with a sequential scan. */
export function seqScannedRelations(plan: unknown): string[] {
  return planNodes(plan).flatMap((node) =>
    node['Node Type'] === 'Seq Scan' && typeof node['Relation Name'] === 'string'
      ? [node['Relation Name']]
      : [],
  )
}

/**
 * The plan of `statement` as PL/pgSQL runs a statement of a function: its variables as the
 * parameters `$1…` (of `parameterTypes`), prepared and executed with `args` (SQL literals) under
 * `mode` and the function's `settings` (its SET clauses), in a transaction rolled back after.
 */
export async function explainAsPrepared(
  db: Kysely<Database>,
  statement: string,
  parameterTypes: readonly string[],
  args: readonly string[],
  mode: 'force_custom_plan' | 'force_generic_plan',
  settings: readonly (readonly string[])[] = [],
): Promise<unknown> {
  return db.connection().execute(async (session) => {
    const run = (text: string) =>
      session.executeQuery<Record<string, unknown>>(CompiledQuery.raw(text))
    let prepared = false
    await run('begin')
    try {
      await run(`set local plan_cache_mode = ${mode}`)
      for (const [name, value] of settings) {
        await session.executeQuery(
          CompiledQuery.raw('select set_config($1, $2, true)', [name, value]),
        )
      }
      await run(`prepare function_statement_probe(${parameterTypes.join(', ')}) as ${statement}`)
      prepared = true
      const result = await run(
        `explain (format json) execute function_statement_probe(${args.join(', ')})`,
      )
      return parsedPlan(result.rows[0]?.['QUERY PLAN'])
    } finally {
      await run('rollback')
      if (prepared) await run('deallocate function_statement_probe')
    }
  })
}
