import { CompiledQuery, Kysely, type Dialect } from 'kysely'
import type { Database } from '../../db/database.js'

export interface Captured {
  sql: string
  parameters: readonly unknown[]
}

/**
 * Runs `work` against a Kysely that records every query it sends, then EXPLAINs the first
 * one (JSON plan) — the plan of exactly the SQL a query module builds.
 */
export async function explainFirstQuery(
  dialect: Dialect,
  work: (db: Kysely<Database>) => Promise<unknown>,
): Promise<{ query: Captured; plan: unknown }> {
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
  const result = await db.executeQuery<{ 'QUERY PLAN': unknown }>(
    CompiledQuery.raw(`explain (format json) ${query.sql}`, [...query.parameters]),
  )
  const raw = result.rows[0]?.['QUERY PLAN']
  const plan = typeof raw === 'string' ? (JSON.parse(raw) as unknown) : raw
  return { query, plan }
}

/** Every node of a JSON plan, depth first. */
function planNodes(plan: unknown): Record<string, unknown>[] {
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
