import { setTimeout as sleep } from 'node:timers/promises'
import {
  sql,
  type KyselyPlugin,
  type PluginTransformQueryArgs,
  type PluginTransformResultArgs,
  type QueryResult,
  type RootOperationNode,
  type UnknownRow,
} from 'kysely'
import type { DatabaseConnection } from '../../db/connect.js'
import { onPostgres, secondConnection } from '../helper.js'

/** On PGlite, an outage is simulated: while it lasts every query fails as a killed backend would. */
class SimulatedOutage implements KyselyPlugin {
  down = false
  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    if (this.down) {
      throw Object.assign(new Error('terminating connection due to administrator command'), {
        code: '57P01',
      })
    }
    return args.node
  }
  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    return args.result
  }
}

export interface Outages {
  /** The connection to build the service on: cut by `cut()`. */
  service: DatabaseConnection
  /** Cuts the service off from its database once; resolves when it is back. */
  cut: () => Promise<void>
  description: string
  close: () => Promise<void>
}

/**
 * Database outages for fault tests: on PostgreSQL, pg_terminate_backend on every connection of
 * the service; on PGlite, every query failing with 57P01 for `simulatedMs`.
 */
export async function outagesFor(
  database: DatabaseConnection,
  simulatedMs: number,
): Promise<Outages> {
  if (onPostgres()) {
    const killer = await secondConnection(1)
    return {
      service: database,
      description: 'pg_terminate_backend on every connection of the service',
      cut: async () => {
        await sql`select pg_terminate_backend(pid) from pg_stat_activity
          where datname = current_database() and pid <> pg_backend_pid()`.execute(killer.db)
      },
      close: () => killer.db.destroy(),
    }
  }
  const outage = new SimulatedOutage()
  return {
    service: { ...database, db: database.db.withPlugin(outage) },
    description: `simulated outage: every query fails with 57P01 for ${simulatedMs} ms`,
    cut: async () => {
      outage.down = true
      await sleep(simulatedMs)
      outage.down = false
    },
    close: async () => {},
  }
}
