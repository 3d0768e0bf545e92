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
}

/** Connects, brings the schema up to date, and closes the connection with the server. */
export default fp(
  async function dbPlugin(app, options: DbPluginOptions) {
    let connection = options.connection
    if (!connection) {
      const owned = await connectDatabase(databaseTargetOf(app.config))
      app.addHook('onClose', async () => {
        await owned.close()
      })
      await migrateToLatest(owned.db, (line) => app.log.info(line))
      connection = owned
    }
    connections.set(connection.db, connection)
    app.decorate('db', connection.db)
  },
  { name: 'db', dependencies: ['config'] },
)
