import type { Test } from 'tap'
import type { DatabaseConnection } from '../../db/connect.js'
import { build, onPostgres, secondConnection, testDatabase } from '../helper.js'

/**
 * Two app instances on this file's database: on PostgreSQL each with its own pool, as two
 * processes would; on PGlite both on the one embedded database. `poolWaitMs`: how long their
 * requests may wait for a connection before the 503 of load shedding (3 s unless given) — a test
 * of exactness under contention, not of shedding, gives its queue of requests the time it needs.
 */
export async function twoInstances(t: Test, options: { poolWaitMs?: number } = {}) {
  const database = await testDatabase()
  const pool = async (): Promise<DatabaseConnection> => {
    const connection = await secondConnection(10, options.poolWaitMs)
    t.teardown(() => connection.db.destroy())
    return connection
  }
  const ownPools = onPostgres() && options.poolWaitMs !== undefined
  const first = await build(t, { database: ownPools ? await pool() : database })
  const second = await build(t, { database: onPostgres() ? await pool() : database })
  t.comment(`instances: ${onPostgres() ? 'two pools on one PostgreSQL' : 'one embedded PGlite'}`)
  return { database, first, second }
}
