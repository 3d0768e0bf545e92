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
  options: { analyze?: boolean } = {},
): Promise<{ query: Captured; plan: unknown; text: string }> {
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
  const prefix = options.analyze
    ? 'explain (analyze, buffers, format json) '
    : 'explain (format json) '
  const result = await db.executeQuery<{ 'QUERY PLAN': unknown }>(
    CompiledQuery.raw(prefix + query.sql, [...query.parameters]),
  )
  const raw = result.rows[0]?.['QUERY PLAN']
  const plan = typeof raw === 'string' ? (JSON.parse(raw) as unknown) : raw
  return { query, plan, text: JSON.stringify(plan) }
}

/** Every index name a JSON plan uses. */
export function indexesIn(plan: unknown): string[] {
  const names: string[] = []
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(visit)
    else if (node && typeof node === 'object') {
      for (const [key, value] of Object.entries(node)) {
        if (key === 'Index Name' && typeof value === 'string') names.push(value)
        else visit(value)
      }
    }
  }
  visit(plan)
  return names
}

/** Relations a JSON plan reads with a sequential scan. */
export function seqScannedRelations(plan: unknown): string[] {
  const relations: string[] = []
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(visit)
    else if (node && typeof node === 'object') {
      const record = node as Record<string, unknown>
      if (record['Node Type'] === 'Seq Scan' && typeof record['Relation Name'] === 'string') {
        relations.push(record['Relation Name'])
      }
      Object.values(record).forEach(visit)
    }
  }
  visit(plan)
  return relations
}
