import { existsSync } from 'node:fs'
import { sql } from 'kysely'
import t from 'tap'
import { authFor, fileServer } from '../helper.js'
import { businessScopedTables } from '../setup/statement-check.js'
import { createCustomer } from '../support/customers.js'
import { capturedStatements, statementsFolder, type Origin } from '../support/statement-capture.js'

t.test('the business-scoped tables are read from the migrated schema', async (t) => {
  const { database } = await fileServer(t)
  const tables = await businessScopedTables(database.db)
  for (const table of ['customers', 'customer_sales', 'idempotency_keys', 'webhook_deliveries']) {
    t.ok(tables.includes(table), `${table} has a business_id`)
  }
  t.notOk(tables.includes('businesses'), 'businesses is keyed by its own id')
})

t.test('statements are recorded with who wrote them', async (t) => {
  if (!existsSync(statementsFolder())) {
    t.plan(0, 'run under tap: the before step starts the capture')
    return
  }
  const { inject, database } = await fileServer(t)
  const created = await createCustomer(inject, 71, { name: 'Achieng Otieno' })
  const res = await inject({
    method: 'GET',
    url: `/api/customers/71/${created.id}`,
    headers: authFor(71),
  })
  t.equal(res.statusCode, 200, 'status')
  const mine = 'select count(*) from customers where name = $1'
  await sql`select count(*) from customers where name = ${'Achieng Otieno'}`.execute(database.db)

  const statements = capturedStatements()
  const written = (origin: Origin) =>
    statements.filter((statement) => statement.origins.includes(origin))
  t.ok(
    written('service').some((statement) => /insert into "customers"/.test(statement.sql)),
    "the service's insert is the service's",
  )
  t.same(
    statements.find((statement) => statement.sql === mine)?.origins,
    ['test'],
    "the test's own statement is the test's, not checked",
  )
})
