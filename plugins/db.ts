import fp from 'fastify-plugin'
import type { Kysely } from 'kysely'
import { connectDatabase, databaseTargetOf, type DatabaseConnection } from '../db/connect.js'
import type { Database } from '../db/database.js'
import { migrateToLatest } from '../db/migrate.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The database every service call takes first. */
    db: Kysely<Database>
  }
}

/** The pool behind `app.db` (absent on embedded PostgreSQL), for the pool gauges. */
const pools = new WeakMap<Kysely<Database>, NonNullable<DatabaseConnection['pool']>>()

export function poolOf(db: Kysely<Database>): DatabaseConnection['pool'] {
  return pools.get(db)
}

export interface DbPluginOptions {
  /** An open, migrated connection owned by the caller (tests share one per file). */
  connection?: DatabaseConnection
}

/** Connects, brings the schema up to date, and closes the connection with the server. */
export default fp(
  async function dbPlugin(app, options: DbPluginOptions) {
    let connection = options.connection
    if (!connection) {
      const owned = await connectDatabase(databaseTargetOf(app.config))
      app.addHook('onClose', async () => {
        await owned.db.destroy()
      })
      await migrateToLatest(owned.db, (line) => app.log.info(line))
      connection = owned
    }
    if (connection.pool) pools.set(connection.db, connection.pool)
    app.decorate('db', connection.db)
  },
  { name: 'db', dependencies: ['config'] },
)
