import { existsSync, readFileSync } from 'node:fs'
import { PGlite } from '@electric-sql/pglite'
import { btree_gin } from '@electric-sql/pglite/contrib/btree_gin'
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm'
import { Kysely } from 'kysely'
import { PGliteDialect } from 'kysely-pglite-dialect'
import type { DatabaseConnection } from '../../db/connect.js'
import type { Database } from '../../db/database.js'

/** The extensions db/connect.ts loads into embedded PostgreSQL (a template needs the same). */
export const PGLITE_EXTENSIONS = { pg_trgm, btree_gin }

/** A PGlite wrapped as db/connect.ts wraps the embedded target. */
export function embeddedConnection(pglite: PGlite): DatabaseConnection {
  const dialect = new PGliteDialect(pglite)
  return {
    db: new Kysely<Database>({ dialect }),
    dialect,
    target: { kind: 'embedded', path: 'memory://' },
  }
}

/** Writes the data directory of `pglite` as an uncompressed tar (a template for loadArchive). */
export async function dumpArchive(pglite: PGlite): Promise<Uint8Array> {
  const dump = await pglite.dumpDataDir('none')
  return new Uint8Array(await dump.arrayBuffer())
}

/**
 * An in-memory PGlite started from a dumped data directory (no initdb, no migrations:
 * about 2.5 s instead of about 10 s of CPU), or undefined when the archive is gone.
 * `close` ends the PGlite even if no query ever ran (Kysely's destroy() then leaves the
 * dialect alone, and a loaded PGlite would keep the process alive).
 */
export async function loadArchive(
  archive: string,
): Promise<{ connection: DatabaseConnection; close: () => Promise<void> } | undefined> {
  if (!existsSync(archive)) return undefined
  const pglite = await PGlite.create('memory://', {
    extensions: PGLITE_EXTENSIONS,
    loadDataDir: new Blob([readFileSync(archive)]),
  })
  const connection = embeddedConnection(pglite)
  return {
    connection,
    close: async () => {
      await connection.db.destroy()
      if (!pglite.closed) await pglite.close()
    },
  }
}
