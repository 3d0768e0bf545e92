import { sql } from 'kysely'
import t from 'tap'
import { ensureBusiness } from '../../db/businesses.js'
import { insertEmptyPurchaseHistory } from '../../db/customer-purchase-history.js'
import { findCustomerDetail, insertCustomer, listCustomers } from '../../db/customers.js'
import { onPostgres, secondConnection, testDatabase } from '../helper.js'

const BUSINESS = 950

t.test('keyed lookups run as named prepared statements, lists and searches do not', async (t) => {
  const database = await testDatabase()
  await ensureBusiness(database.db, BUSINESS)
  const customer = await insertCustomer(database.db, BUSINESS, { name: 'Prepared Once' })
  await insertEmptyPurchaseHistory(database.db, BUSINESS, Number(customer.id))
  // A pool of one connection: every query below runs in the session inspected at the end.
  const connection = onPostgres() ? await secondConnection(1) : database
  t.teardown(() => (connection === database ? undefined : connection.db.destroy()))
  t.comment(onPostgres() ? 'PostgreSQL, one pooled connection' : 'PGlite: no pool, nothing named')

  const reads = []
  for (let i = 0; i < 7; i += 1) {
    reads.push(await findCustomerDetail(connection.db, BUSINESS, Number(customer.id), 100))
  }
  for (const read of reads) {
    t.equal(read?.name, 'Prepared Once', 'the same row on every execution')
    t.same(read?.notes, [], 'its (empty) notes')
    t.equal(read?.history?.total_spent, '0.00', 'money still arrives as text')
  }
  t.equal(
    await findCustomerDetail(connection.db, BUSINESS, Number(customer.id) + 1000, 100),
    undefined,
    'another id, same statement: no row',
  )
  const listed = await listCustomers(connection.db, BUSINESS, {
    limit: 5,
    offset: 0,
    sortBy: 'created_at',
    sortOrder: 'desc',
    isActive: true,
  })
  t.same(
    listed.map((row) => row.name),
    ['Prepared Once'],
    'the list still answers',
  )

  if (onPostgres()) {
    const { rows } = await sql<{ name: string; statement: string }>`
      select name, statement from pg_prepared_statements`.execute(connection.db)
    const detail = rows.filter((row) => row.statement.startsWith('select "c".*'))
    t.equal(detail.length, 1, 'the customer read is prepared once in the session')
    t.match(detail[0]?.name, /^fixed_[0-9a-f]{40}$/, 'named after its text')
    t.notOk(
      rows.some((row) => row.statement.includes('"sort_key"')),
      'the list is not prepared: it keeps plans made for its own values',
    )
  }
})
