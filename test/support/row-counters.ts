import { sql } from 'kysely'
import type { Executor } from '../../db/executor.js'

/** Which of a table's counters to add up: rows read, or rows read and written. */
export type Counted = 'read' | 'read and written'

const COUNTERS: Record<Counted, ReturnType<typeof sql.raw>> = {
  read: sql.raw('coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0)'),
  'read and written': sql.raw(
    'coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) + n_tup_ins + n_tup_upd + n_tup_del',
  ),
}

/**
 * Rows per table as the backend counts them in this transaction (sequential and index fetches,
 * and with 'read and written' the rows inserted, updated and deleted):
 * pg_stat_xact_user_tables counts every statement, those run inside PL/pgSQL functions and
 * triggers too, and is the same view on PostgreSQL 15 and on PGlite.
 */
export async function rowCounters(
  trx: Executor,
  tables: readonly string[],
  counted: Counted,
): Promise<Record<string, number>> {
  const { rows } = await sql<{ relname: string; rows: number }>`select relname,
      (${COUNTERS[counted]})::int as rows
    from pg_stat_xact_user_tables
    where relname in (${sql.join([...tables])})`.execute(trx)
  return Object.fromEntries(
    tables.map((table) => [table, rows.find((row) => row.relname === table)?.rows ?? 0]),
  )
}
