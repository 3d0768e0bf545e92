/**
 * What an open database is, for both kinds (db/connect.ts opens PostgreSQL, db/embedded.ts the
 * embedded one): apart from both, so that neither imports the other's code.
 */
import type { Dialect, Kysely } from 'kysely'
import type pg from 'pg'
import type { Database } from './database.js'

export type DatabaseTarget =
  /** `poolWaitMs`: the longest a query waits for a pool connection (3 s unless given). */
  | { kind: 'postgres'; url: string; poolMax: number; poolWaitMs?: number }
  /** `path` is a folder, or `memory://` for a throw-away database. */
  | { kind: 'embedded'; path: string }

export type EmbeddedSql = (text: string, values?: unknown[]) => Promise<{ rows: unknown[] }>

export interface DatabaseConnection {
  db: Kysely<Database>
  /** The dialect behind `db`, for another Kysely on the same pool (query capture in tests). */
  dialect: Dialect
  target: DatabaseTarget
  /** The pg pool, for pool metrics; absent on embedded PostgreSQL. */
  pool?: pg.Pool
  /**
   * Embedded only: runs SQL text the way the job queue (pg-boss) sends it — several statements
   * in one text when it has no values — on the one embedded connection, between `db`'s own
   * statements and never inside one of their transactions (db/job-queue.ts).
   */
  embeddedSql?: EmbeddedSql
  /**
   * Resolves when the database answers `select 1` within the time given. On PostgreSQL it uses
   * a connection of its own, so readiness never waits behind a saturated pool.
   */
  ping(milliseconds: number): Promise<void>
  /** Closes the database and the probe's connection. */
  close(): Promise<void>
}

export async function withinTime(work: Promise<unknown>, milliseconds: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('the database did not answer in time')), milliseconds)
  })
  try {
    await Promise.race([work, timeout])
  } finally {
    clearTimeout(timer)
  }
}
