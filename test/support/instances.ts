import type { Test } from 'tap'
import { build, onPostgres, secondConnection, testDatabase } from '../helper.js'

/**
 * Two app instances on this file's database: on PostgreSQL each with its own pool, as two
 * processes would; on PGlite both on the one embedded database.
 */
export async function twoInstances(t: Test) {
  const database = await testDatabase()
  const other = onPostgres() ? await secondConnection(10) : database
  if (other !== database) t.teardown(() => other.db.destroy())
  const first = await build(t, { database })
  const second = await build(t, { database: other })
  t.comment(`instances: ${onPostgres() ? 'two pools on one PostgreSQL' : 'one embedded PGlite'}`)
  return { database, first, second }
}
