import { existsSync } from 'node:fs'
import { join } from 'node:path'
import fp from 'fastify-plugin'
import type { Kysely } from 'kysely'
import {
  connectDatabase,
  databaseTargetOf,
  type DatabaseConnection,
  type DatabaseTarget,
} from '../db/connect.js'
import type { Database } from '../db/database.js'
import { describePlan, migrateToLatest } from '../db/migrate.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The database every service call takes first. */
    db: Kysely<Database>
  }
}

/** The connection behind each `app.db`: its pool (for the gauges) and its readiness probe. */
const connections = new WeakMap<Kysely<Database>, DatabaseConnection>()

export function connectionOf(db: Kysely<Database>): DatabaseConnection {
  const connection = connections.get(db)
  if (!connection) throw new Error('this database was not opened by the db plugin')
  return connection
}

export interface DbPluginOptions {
  /** An open, migrated connection owned by the caller (tests share one per file). */
  connection?: DatabaseConnection
  /**
   * Where the start-up progress lines go (opening the database, the migration plan) when a
   * person reads them (development); unset, they are info lines of the JSON log.
   */
  progress?: (line: string) => void
}

/** What opening the database is about to do, in words (never the URL: it holds a password). */
function openingLine(target: DatabaseTarget): string {
  if (target.kind === 'postgres') return 'Connecting to PostgreSQL (DATABASE_URL)'
  if (target.path.startsWith('memory://')) return 'Opening embedded PostgreSQL in memory'
  return existsSync(join(target.path, 'PG_VERSION'))
    ? `Opening embedded PostgreSQL in ${target.path}`
    : `Creating embedded PostgreSQL in ${target.path} (first start: this takes a few seconds)`
}

/** Connects, brings the schema up to date, and closes the connection with the server. */
export default fp(
  async function dbPlugin(app, options: DbPluginOptions) {
    let connection = options.connection
    if (!connection) {
      const progress = options.progress ?? ((line: string) => app.log.info(line))
      const target = databaseTargetOf(app.config)
      progress(openingLine(target))
      const owned = await connectDatabase(target)
      app.addHook('onClose', async () => {
        await owned.close()
      })
      await migrateToLatest(owned.db, {
        planned: (steps) => progress(describePlan(steps)),
        // Each step is in the JSON log; a person reading the progress lines gets the plan only.
        step: (line) => (options.progress ? app.log.debug(line) : app.log.info(line)),
      })
      connection = owned
    }
    connections.set(connection.db, connection)
    app.decorate('db', connection.db)
  },
  { name: 'db', dependencies: ['config'] },
)
