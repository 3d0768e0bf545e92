import { Kysely, sql } from 'kysely'
import t from 'tap'
import { recomputePurchaseHistory } from '../../db/customer-purchase-history.js'
import type { Database } from '../../db/database.js'
import type { Executor } from '../../db/executor.js'
import type { SaleEvent } from '../../generated/schemas/SaleEvent.js'
import { recordSaleEvent } from '../../services/sales-feed.js'
import { authFor, fileServer, onPostgres } from '../helper.js'
import { rowCounters } from '../support/row-counters.js'

const BUSINESS = 960
const LONG_HISTORY = 5_000

/**
 * The tables a sales event's own work reads or writes. customer_stats is left out: its trigger
 * moves a count between loyalty tiers, which depends on the tier the event reaches (one_time to
 * occasional here, frequent to frequent there), not on how long the history is.
 */
const TABLES = [
  'customers',
  'customer_sales',
  'sales_events',
  'customer_purchase_history',
  'customer_preferences',
] as const

const completion = (customerId: number, saleId: string, amount: string): SaleEvent => ({
  id: `cost-${saleId}`,
  type: 'sale.completed',
  created_at: new Date().toISOString(),
  data: {
    sale_id: saleId,
    business_id: BUSINESS,
    customer_id: customerId,
    total_amount: amount,
    items_count: 1,
    payment_method: 'cash',
    completed_at: '2026-06-01T12:00:00.000Z',
  },
})

const refund = (customerId: number, saleId: string, amount: string): SaleEvent => ({
  id: `cost-${saleId}-refund`,
  type: 'sale.refunded',
  created_at: new Date().toISOString(),
  data: { sale_id: saleId, business_id: BUSINESS, customer_id: customerId, refund_amount: amount },
})

const voiding = (customerId: number, saleId: string): SaleEvent => ({
  id: `cost-${saleId}-void`,
  type: 'sale.voided',
  created_at: new Date().toISOString(),
  data: { sale_id: saleId, business_id: BUSINESS, customer_id: customerId },
})

/**
 * The rows `event` reads and writes, applied in a transaction of its own. The view's counters
 * may still hold earlier transactions' rows (PostgreSQL 15 flushes them at most once a second,
 * between transactions), so they are the difference of two readings in that transaction.
 */
async function rowsTouchedBy(
  db: Kysely<Database>,
  event: (trx: Executor) => Promise<unknown>,
): Promise<Record<string, number>> {
  return db.transaction().execute(async (trx) => {
    const before = await rowCounters(trx, TABLES, 'read and written')
    await event(trx)
    const after = await rowCounters(trx, TABLES, 'read and written')
    return Object.fromEntries(
      TABLES.map((table) => [table, (after[table] ?? 0) - (before[table] ?? 0)]),
    )
  })
}

t.test(
  "a sales event's cost does not grow with the customer's history: 1 sale or 5,000",
  async (t) => {
    const { inject, database } = await fileServer(t)
    const statements: string[] = []
    // The app's pool, with every statement sent recorded (never destroyed: the pool is shared).
    const captured = new Kysely<Database>({
      dialect: database.dialect,
      log: (event) => {
        statements.push(event.query.sql)
      },
    })
    t.comment(onPostgres() ? 'PostgreSQL' : 'PGlite')

    const customers: Record<'short' | 'long', number> = { short: 0, long: 0 }
    for (const [name, sales] of [
      ['short', 1],
      ['long', LONG_HISTORY],
    ] as const) {
      const created = await inject({
        method: 'POST',
        url: `/api/customers/${BUSINESS}`,
        headers: authFor(BUSINESS),
        payload: { name: `History of ${sales}` },
      })
      t.equal(created.statusCode, 201, `customer with ${sales} sales created`)
      const customerId = created.json().customer.id as number
      customers[name] = customerId
      // The ledger directly, then the history from it, as a bulk load would leave them.
      await sql`insert into customer_sales (business_id, sale_id, customer_id, total_amount,
          items_count, payment_method, completed_at)
        select ${BUSINESS}::bigint, 'L-' || ${customerId}::bigint || '-' || g, ${customerId}::bigint,
          10.00, 1, 'cash', timestamptz '2026-01-01T00:00:00Z' + g * interval '1 minute'
        from generate_series(1, ${sales}::int) g`.execute(database.db)
      await recomputePurchaseHistory(database.db, BUSINESS, customerId)
    }

    const costs: Record<string, { statements: string[]; rows: Record<string, number> }> = {}
    for (const name of ['short', 'long'] as const) {
      const customerId = customers[name]
      // A completion as the webhook sends it: on its own, outside any transaction.
      statements.length = 0
      const completed = await recordSaleEvent(
        captured,
        completion(customerId, `N-${name}`, '1000.00'),
      )
      t.equal(completed.status, 'processed', `${name}: the completion is processed`)
      const sent = [...statements]
      // A refund, in a transaction that reads the row counters around it. Its amount moves both
      // average spends (10.20 to 10.19; 505.00 to 480.00), so both write their preferences.
      const rows = await rowsTouchedBy(captured, async (trx) => {
        const refunded = await recordSaleEvent(trx, refund(customerId, `N-${name}`, '50.00'))
        t.equal(refunded.status, 'processed', `${name}: the refund is processed`)
      })
      costs[name] = { statements: sent, rows }
    }
    t.comment(JSON.stringify(costs.long?.rows))
    t.equal(costs.short?.statements.length, 1, 'one statement per event (one round trip)')
    t.same(
      costs.long?.statements,
      costs.short?.statements,
      'the same statements for 5,000 sales as for 1',
    )
    t.same(costs.long?.rows, costs.short?.rows, 'the same rows touched for 5,000 sales as for 1')

    // The measure sees a ledger read: voiding the sale that set the last purchase date is the
    // one case that recomputes from the ledger, and it reads every sale of the customer.
    const voided = await rowsTouchedBy(captured, async (trx) => {
      const outcome = await recordSaleEvent(trx, voiding(customers.long, 'N-long'))
      t.equal(outcome.status, 'processed', 'the void of the last sale is processed')
    })
    t.ok(
      (voided.customer_sales ?? 0) >= LONG_HISTORY,
      `the recomputing void reads the ledger (${voided.customer_sales} sale rows)`,
    )

    const { rows: history } = await sql<{
      customer_id: number
      total_purchases: number
      total_spent: string
      last_purchase_date: Date
    }>`select customer_id, total_purchases, total_spent, last_purchase_date
      from customer_purchase_history
      where business_id = ${BUSINESS} order by customer_id`.execute(database.db)
    t.same(
      history.map((row) => [
        row.total_purchases,
        row.total_spent,
        row.last_purchase_date.toISOString(),
      ]),
      [
        [2, '960.00', '2026-06-01T12:00:00.000Z'],
        [LONG_HISTORY, '50000.00', '2026-01-04T11:20:00.000Z'],
      ],
      'the histories as the ledger says',
    )
  },
)
