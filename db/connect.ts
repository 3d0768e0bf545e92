import { join } from 'node:path'
import { Kysely, PostgresDialect, type Dialect } from 'kysely'
import pg from 'pg'
import type { Config } from '../lib/config.js'
import { beginWithChangeContext } from './change-context.js'
import { pgTypes } from './column-parsers.js'
import type { Database } from './database.js'
import { usePreparedStatements } from './prepared-statements.js'

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

/** Where the data lives: PostgreSQL through a pg pool, or embedded PostgreSQL in DATA_DIR. */
export function databaseTargetOf(config: Config): DatabaseTarget {
  if (config.databaseUrl) {
    return {
      kind: 'postgres',
      url: config.databaseUrl,
      poolMax: config.dbPoolMax,
      poolWaitMs: config.dbPoolWaitMs,
    }
  }
  return { kind: 'embedded', path: config.embeddedDatabasePath ?? join(config.dataDir, 'pgdata') }
}

export async function connectDatabase(target: DatabaseTarget): Promise<DatabaseConnection> {
  if (target.kind === 'postgres') {
    const pool = new pg.Pool({
      connectionString: target.url,
      max: target.poolMax,
      connectionTimeoutMillis: target.poolWaitMs ?? 3000,
      idleTimeoutMillis: 30000,
      // A terminated backend must not crash the process; the next checkout reconnects.
      allowExitOnIdle: false,
      types: pgTypes,
    })
    // A backend that dies (restart, failover, pg_terminate_backend) makes its client emit
    // 'error', idle or checked out; unhandled, that would end the process. The query in
    // flight fails on its own and pg-pool drops the broken client when it is released.
    pool.on('error', () => {})
    pool.on('connect', (client) => {
      client.on('error', () => {})
      usePreparedStatements(client)
      beginWithChangeContext(client)
    })
    const probe = new pg.Pool({
      connectionString: target.url,
      max: 1,
      connectionTimeoutMillis: 1000,
      idleTimeoutMillis: 30000,
      // An idle probe connection must not keep a finished script or test alive.
      allowExitOnIdle: true,
    })
    probe.on('error', () => {})
    probe.on('connect', (client) => client.on('error', () => {}))
    const dialect = new PostgresDialect({ pool })
    const db = new Kysely<Database>({ dialect })
    return {
      db,
      dialect,
      target,
      pool,
      ping: (milliseconds) => withinTime(probe.query('select 1'), milliseconds),
      close: async () => {
        await Promise.all([db.destroy(), probe.end()])
      },
    }
  }
  // Loaded only here: on PostgreSQL the process never holds PGlite's code (db/embedded.ts).
  const { openEmbedded } = await import('./embedded.js')
  return openEmbedded(target)
}
