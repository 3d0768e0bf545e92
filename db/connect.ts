import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import { btree_gin } from '@electric-sql/pglite/contrib/btree_gin'
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm'
import { Kysely, PostgresDialect, sql, type Dialect } from 'kysely'
import { PGliteDialect } from 'kysely-pglite-dialect'
import pg from 'pg'
import type { Config } from '../lib/config.js'
import { lockDataDirectory } from '../lib/data-dir-lock.js'
import { beginWithChangeContext, beginWithChangeContextEmbedded } from './change-context.js'
import { pgliteParsers, pgTypes } from './column-parsers.js'
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

async function withinTime(work: Promise<unknown>, milliseconds: number): Promise<void> {
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
  if (target.path.startsWith('memory://')) {
    return embeddedConnection(await PGlite.create(target.path, PGLITE_OPTIONS), target)
  }
  // One process per folder: the lock is taken before PGlite touches it, freed by close().
  const release = await lockDataDirectory(target.path)
  try {
    mkdirSync(target.path, { recursive: true })
    const pglite = await PGlite.create(target.path, PGLITE_OPTIONS)
    return embeddedConnection(pglite, target, release)
  } catch (error) {
    await release()
    throw error
  }
}

/** Embedded PostgreSQL's extensions and column parsers; a test template needs the same. */
export const PGLITE_OPTIONS = {
  extensions: { pg_trgm, btree_gin },
  parsers: pgliteParsers,
}

/**
 * PGlite has one connection, which the Kysely dialect lends to one caller at a time (a
 * transaction keeps it until it ends). Each statement here borrows it the same way, so it never
 * lands inside someone else's transaction. A text without values may hold several statements
 * (pg-boss's `BEGIN; …; COMMIT;` blocks): it goes through `exec`, whose results are flattened. A
 * failed block is rolled back before the connection is lent on, as a pool would drop it.
 */
function embeddedSqlOf(pglite: PGlite, db: Kysely<Database>): EmbeddedSql {
  return (text, values) =>
    db.connection().execute(async () => {
      if (values && values.length > 0) return { rows: (await pglite.query(text, values)).rows }
      try {
        return { rows: (await pglite.exec(text)).flatMap((result) => result.rows) }
      } catch (error) {
        await pglite.query('rollback').catch(() => undefined)
        throw error
      }
    })
}

/**
 * An open PGlite as this service's connection: Kysely on it, the ping, the close (which also
 * releases the folder's lock, when given).
 */
export function embeddedConnection(
  pglite: PGlite,
  target: Extract<DatabaseTarget, { kind: 'embedded' }>,
  releaseLock: () => Promise<void> = async () => {},
): DatabaseConnection {
  beginWithChangeContextEmbedded(pglite)
  const dialect = new PGliteDialect(pglite)
  const db = new Kysely<Database>({ dialect })
  return {
    db,
    dialect,
    target,
    embeddedSql: embeddedSqlOf(pglite, db),
    ping: (milliseconds) => withinTime(sql`select 1`.execute(db), milliseconds),
    close: async () => {
      await db.destroy()
      // destroy() leaves a PGlite that never ran a query open, which keeps the process alive.
      if (!pglite.closed) await pglite.close()
      await releaseLock()
    },
  }
}
