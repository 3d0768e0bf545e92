import { cpSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sql, type Kysely } from 'kysely'
import t from 'tap'
import { connectDatabase } from '../../db/connect.js'
import type { Database } from '../../db/database.js'
import { migrateToLatest } from '../../db/migrate.js'
import { occupiedBusinesses } from '../../scripts/seed/occupied-businesses.js'
import { testDatabase } from '../helper.js'
import { loadChoice } from '../setup/test-database.js'
import { runScript } from './run-script.js'

async function addCustomer(db: Kysely<Database>, businessId: number): Promise<number> {
  await db
    .insertInto('businesses')
    .values({ id: businessId })
    .onConflict((c) => c.column('id').doNothing())
    .execute()
  const row = await db
    .insertInto('customers')
    .values({ business_id: businessId, name: 'Wanjiru Kamau' })
    .returning('id')
    .executeTakeFirstOrThrow()
  return Number(row.id)
}

const rowsOf = async (db: Kysely<Database>, businessId: number) => {
  const { rows } = await sql<{ customers: string; sales: string }>`
    select (select count(*) from customers where business_id = ${businessId})::text as customers,
      (select count(*) from customer_sales where business_id = ${businessId})::text as sales`.execute(
    db,
  )
  return { customers: Number(rows[0]?.customers), sales: Number(rows[0]?.sales) }
}

t.test('occupiedBusinesses names each target business holding customers or sales', async (t) => {
  const { db } = await testDatabase()
  t.same(await occupiedBusinesses(db, [41, 42, 43]), [], 'all empty')
  await addCustomer(db, 41)
  await addCustomer(db, 41)
  const customerId = await addCustomer(db, 43)
  await db
    .insertInto('customer_sales')
    .values({ business_id: 43, sale_id: 'S-1', customer_id: customerId, refunded_amount: '0' })
    .execute()
  t.same(await occupiedBusinesses(db, [41, 42, 43]), [
    { businessId: 41, customers: 2, sales: 0 },
    { businessId: 43, customers: 1, sales: 1 },
  ])
})

t.test('occupiedBusinesses on a database without tables yet: nothing held', async (t) => {
  const { db } = await connectDatabase({ kind: 'embedded', path: 'memory://' })
  t.teardown(() => db.destroy())
  t.same(await occupiedBusinesses(db, [5]), [])
})

/**
 * A database of its own that a seed process can open, holding one customer in business 5:
 * this file's PostgreSQL database, or an embedded one in a DATA_DIR of its own.
 */
async function targetWithACustomer(): Promise<{
  env: Record<string, string>
  open: () => Promise<Kysely<Database>>
}> {
  const { db, target } = await testDatabase()
  if (target.kind === 'postgres') {
    await addCustomer(db, 5)
    return { env: { DATABASE_URL: target.url }, open: async () => db }
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'payme-seed-'))
  const path = join(dataDir, 'pgdata')
  const choice = loadChoice()
  if (choice.kind === 'embedded' && choice.template) {
    cpSync(choice.template.dataDir, path, { recursive: true })
  }
  // close(), not db.destroy(): it also frees the folder's lock for the seed process.
  const setup = await connectDatabase({ kind: 'embedded', path })
  await migrateToLatest(setup.db)
  await addCustomer(setup.db, 5)
  await setup.close()
  const open = async () => (await connectDatabase({ kind: 'embedded', path })).db
  return { env: { DATA_DIR: dataDir }, open }
}

t.test(
  'npm run seed refuses a business that holds data, in one line, writing nothing',
  async (t) => {
    const { env, open } = await targetWithACustomer()
    const run = await runScript(
      'scripts/seed.ts',
      ['--customers', '10', '--sales', '10', '--business', '5'],
      env,
    )
    t.equal(run.code, 1, 'exit 1')
    const lines = run.stderr.trimEnd().split('\n')
    t.equal(lines.length, 1, `one line: ${run.stderr}`)
    t.match(
      lines[0],
      /^npm run seed: business 5 already has 1 customers and 0 sales; the seed fills only empty businesses and wrote nothing: /,
    )
    t.notMatch(run.stderr, /\n\s+at /, 'no stack trace')
    const db = await open()
    t.same(await rowsOf(db, 5), { customers: 1, sales: 0 }, 'the database is as it was')
    if (env.DATA_DIR) await db.destroy()
  },
)
