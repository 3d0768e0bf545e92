import t from 'tap'
import { twoInstances } from '../support/instances.js'
import { findStalePurchaseHistory } from '../../db/customer-purchase-history.js'
import { authFor } from '../helper.js'
import { eventsFor, expectedMetrics, postEvent, type SaleSpec } from '../sales-feed.js'

const BUSINESS = 8

t.test(
  '200 events for one customer at once, through two app instances, give exact totals',
  async (t) => {
    // 200 requests queue on one customer's row lock: they may wait past the usual 3 s.
    const { database, first, second } = await twoInstances(t, { poolWaitMs: 60_000 })

    const created = await first.inject({
      method: 'POST',
      url: `/api/customers/${BUSINESS}`,
      headers: authFor(BUSINESS),
      payload: { name: 'Busy Customer' },
    })
    t.equal(created.statusCode, 201)
    const customerId = created.json().customer.id as number

    // 140 sales; 40 of them refunded in part, 20 voided: 200 events.
    const sales: SaleSpec[] = Array.from({ length: 140 }, (_, index) => ({
      saleId: `C-${index}`,
      totalCents: 10_000 + index * 137,
      items: (index % 5) + 1,
      completedAt: new Date(Date.UTC(2026, 0, 1) + index * 3_600_000).toISOString(),
      refundsCents: index < 40 ? [1_000 + index] : [],
      voided: index >= 120,
    }))
    const events = eventsFor(BUSINESS, customerId, sales, 'conc')
    t.equal(events.length, 200, '200 events')

    const responses = await Promise.all(
      events.map((event, index) =>
        postEvent(index % 2 === 0 ? first.inject : second.inject, event),
      ),
    )
    t.same(
      responses.map((response) => response.statusCode),
      events.map(() => 200),
      'every event answered 200',
    )
    t.equal(
      responses.filter((response) => response.json().status === 'processed').length,
      200,
      'every event processed once',
    )

    const metrics = await first.inject({
      method: 'GET',
      url: `/api/customers/${BUSINESS}/${customerId}/metrics`,
      headers: authFor(BUSINESS),
    })
    t.equal(metrics.statusCode, 200)
    const expected = expectedMetrics(sales)
    const actual = metrics.json().metrics as Record<string, unknown>
    for (const [field, value] of Object.entries(expected)) {
      t.equal(actual[field], value, `${field} equals the model`)
    }
    t.same(await findStalePurchaseHistory(database.db, BUSINESS), [], 'cache equals the ledger')
  },
)
