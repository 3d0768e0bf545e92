import { sql } from 'kysely'
import t from 'tap'
import { compiledOnce } from '../../db/compiled-once.js'
import { ensureBusiness } from '../../db/businesses.js'
import type { Executor } from '../../db/executor.js'
import { insertCustomer } from '../../db/customers.js'
import { testDatabase } from '../helper.js'

const byKey = compiledOnce((db: Executor, businessId: number, customerId: number) =>
  db
    .selectFrom('customers')
    .select(['id', 'name'])
    .where('business_id', '=', businessId)
    .where('id', '=', customerId),
)

t.test('compiled once, bound per call: each call reads its own row', async (t) => {
  const { db } = await testDatabase()
  await ensureBusiness(db, 960)
  await ensureBusiness(db, 961)
  const first = await insertCustomer(db, 960, { name: 'First Binding' })
  const second = await insertCustomer(db, 961, { name: 'Second Binding' })
  const one = byKey(db, 960, Number(first.id))
  const two = byKey(db, 961, Number(second.id))
  t.equal(one.sql, two.sql, 'one statement text')
  t.not(one.queryId, two.queryId, 'a query id per call')
  t.same(one.parameters, [960, Number(first.id)], 'first values bound')
  t.same(two.parameters, [961, Number(second.id)], 'second values bound')
  t.same((await db.executeQuery(one)).rows, [{ id: Number(first.id), name: 'First Binding' }])
  t.same((await db.executeQuery(two)).rows, [{ id: Number(second.id), name: 'Second Binding' }])
  t.same((await db.executeQuery(byKey(db, 960, Number(second.id)))).rows, [], 'tenancy holds')
  // Inside a transaction too: the compiled text is the executor's dialect, not its connection.
  await db.transaction().execute(async (trx) => {
    t.same((await trx.executeQuery(byKey(trx, 960, Number(first.id)))).rows.length, 1)
  })
})

t.test('a handle with plugins compiles every call, so a plugin sees every query', async (t) => {
  const { db } = await testDatabase()
  await ensureBusiness(db, 962)
  const customer = await insertCustomer(db, 962, { name: 'Plugin Aware' })
  t.equal((await db.executeQuery(byKey(db, 962, Number(customer.id)))).rows.length, 1)
  const refusing = db.withPlugin({
    transformQuery: () => {
      throw new Error('refused by this handle')
    },
    transformResult: async ({ result }) => result,
  })
  t.throws(() => byKey(refusing, 962, Number(customer.id)), /refused by this handle/)
  let down = false
  const switchable = db.withPlugin({
    transformQuery: ({ node }) => {
      if (down) throw new Error('down now')
      return node
    },
    transformResult: async ({ result }) => result,
  })
  t.equal(
    (await switchable.executeQuery(byKey(switchable, 962, Number(customer.id)))).rows.length,
    1,
  )
  down = true
  t.throws(() => byKey(switchable, 962, Number(customer.id)), /down now/, 'not a stale compile')
})

t.test('a value written into the text rather than bound is refused on first use', async (t) => {
  const inlined = compiledOnce((db: Executor, limit: number) =>
    db
      .selectFrom('customers')
      .select('id')
      .where(sql<boolean>`id > ${sql.lit(limit)}`),
  )
  const { db } = await testDatabase()
  t.throws(() => inlined(db, 5), /1 value\(s\) not bound as parameters/)
})
