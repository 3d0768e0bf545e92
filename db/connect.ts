import { join } from 'node:path'
import { Kysely, PostgresDialect } from 'kysely'
import pg from 'pg'
import type { Config } from '../lib/config.js'
import { beginWithChangeContext } from './change-context.js'
import { pgTypes } from './column-parsers.js'
import type { Database } from './database.js'
import type { DatabaseConnection, DatabaseTarget } from './connection.js'
import { withinTime } from './connection.js'
import { usePreparedStatements } from './prepared-statements.js'

export type { DatabaseConnection, DatabaseTarget, EmbeddedSql } from './connection.js'

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
