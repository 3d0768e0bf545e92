/**
 * Embedded PostgreSQL (PGlite): opening it and the service's connection on it. A module of its
 * own, imported by db/connect.ts only when there is no DATABASE_URL, so that a service on
 * PostgreSQL never loads PGlite's code (about 2 MB of heap with its source maps).
 */
import { mkdirSync } from 'node:fs'
import { PGlite, types as pgliteTypes } from '@electric-sql/pglite'
import { btree_gin } from '@electric-sql/pglite/contrib/btree_gin'
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm'
import { Kysely, sql } from 'kysely'
import { PGliteDialect } from 'kysely-pglite-dialect'
import { lockDataDirectory } from '../lib/data-dir-lock.js'
import { beginWithChangeContextEmbedded } from './change-context.js'
import { INT8, INT8_ARRAY, parseInt8 } from './column-parsers.js'
import type { DatabaseConnection, DatabaseTarget, EmbeddedSql } from './connection.js'
import { withinTime } from './connection.js'
import type { Database } from './database.js'

/** db/column-parsers.ts's int8 parsers for PGlite (its timestamps are `Date`, numerics text). */
export const pgliteParsers = {
  [INT8]: parseInt8,
  [INT8_ARRAY]: (text: string): unknown => pgliteTypes.arrayParser(text, parseInt8, INT8_ARRAY),
}

/** Opens embedded PostgreSQL in `target.path`: a folder (locked for this process), `memory://`. */
export async function openEmbedded(
  target: Extract<DatabaseTarget, { kind: 'embedded' }>,
): Promise<DatabaseConnection> {
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
