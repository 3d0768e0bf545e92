import { join } from 'node:path'
import fp from 'fastify-plugin'
import type { Kysely } from 'kysely'
import { connectDatabase, type DatabaseConnection, type DatabaseTarget } from '../db/connect.js'
import type { Database } from '../db/database.js'
import { migrateToLatest } from '../db/migrate.js'
import type { Config } from '../lib/config.js'

declare module 'fastify' {
  interface FastifyInstance {
    db: Kysely<Database>
    database: DatabaseConnection
  }
}

/** Where the data lives: PostgreSQL through a pg pool, or embedded PostgreSQL in DATA_DIR. */
export function databaseTargetOf(config: Config): DatabaseTarget {
  if (config.databaseUrl) {
    return { kind: 'postgres', url: config.databaseUrl, poolMax: config.dbPoolMax }
  }
  return { kind: 'embedded', path: config.embeddedDatabasePath ?? join(config.dataDir, 'pgdata') }
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
    app.decorate('database', connection)
    app.decorate('db', connection.db)
  },
  { name: 'db', dependencies: ['config'] },
)
