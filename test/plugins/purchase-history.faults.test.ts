import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { findStalePurchaseHistory } from '../../db/customer-purchase-history.js'
import { authFor, build, testDatabase } from '../helper.js'
import { outagesFor } from '../support/outages.js'
import { eventsFor, expectedMetrics, signedEvent, type SaleSpec } from '../sales-feed.js'

const BUSINESS = 9
const CUSTOMERS = 20
const SALES_PER_CUSTOMER = 12
const SENDERS = 8

t.test(
  'database outages while sales stream in: 503 with Retry-After, then exact totals',
  async (t) => {
    const database = await testDatabase()
    const outages = await outagesFor(database, 80)
    const { service, close } = outages
    t.teardown(close)
    const { inject } = await build(t, { database: service })
    t.comment(outages.description)

    const customerIds: number[] = []
    for (let index = 0; index < CUSTOMERS; index += 1) {
      const created = await inject({
        method: 'POST',
        url: `/api/customers/${BUSINESS}`,
        headers: authFor(BUSINESS),
        payload: { name: `Fault ${index}` },
      })
      t.equal(created.statusCode, 201, `customer ${index} created`)
      customerIds.push(created.json().customer.id as number)
    }
    const salesByCustomer = customerIds.map((customerId, c) =>
      Array.from({ length: SALES_PER_CUSTOMER }, (_, s): SaleSpec => ({
        saleId: `F-${c}-${s}`,
        totalCents: 5_000 + c * 100 + s * 7,
        items: 1 + (s % 3),
        completedAt: new Date(Date.UTC(2026, 5, 1) + s * 60_000).toISOString(),
        refundsCents: s % 4 === 0 ? [500] : [],
        voided: s % 5 === 4,
      })),
    )
    const queue = customerIds.flatMap((customerId, c) =>
      eventsFor(BUSINESS, customerId, salesByCustomer[c]!, 'fault'),
    )
    const total = queue.length

    const seen = { ok: 0, unavailable: 0, unavailableWithoutRetryAfter: 0, other: [] as string[] }
    // A sender as the sales service behaves: retry on 503 (and 500) until a 200.
    async function deliver(): Promise<void> {
      for (let event = queue.shift(); event; event = queue.shift()) {
        for (let attempt = 1; ; attempt += 1) {
          const response = await inject(signedEvent(event))
          if (response.statusCode === 200) {
            seen.ok += 1
            break
          }
          if (response.statusCode === 503) {
            seen.unavailable += 1
            if (!response.headers['retry-after']) seen.unavailableWithoutRetryAfter += 1
          } else {
            seen.other.push(`${response.statusCode} ${response.body}`)
          }
          if (attempt > 200) throw new Error(`event ${event.id} never succeeded`)
          await sleep(10)
        }
      }
    }

    let cuts = 0
    const senders = Array.from({ length: SENDERS }, () => deliver())
    const cutter = (async () => {
      while (queue.length > 0 && (cuts < 5 || seen.unavailable < 3) && cuts < 40) {
        await sleep(60)
        await outages.cut()
        cuts += 1
        // While cut off, the API answers 503 too, never 500.
        const probe = await inject({ method: 'GET', url: '/ready' })
        if (probe.statusCode === 503) {
          seen.unavailable += 1
          if (!probe.headers['retry-after']) seen.unavailableWithoutRetryAfter += 1
        }
      }
    })()
    await Promise.all([...senders, cutter])

    t.comment(`${cuts} outages, ${seen.unavailable} answers 503, ${total} events`)
    t.ok(cuts >= 5, 'the database was cut off at least five times')
    t.ok(seen.unavailable >= 1, 'the outages were seen as 503')
    t.equal(seen.unavailableWithoutRetryAfter, 0, 'every 503 carried Retry-After')
    t.same(seen.other, [], 'no answer other than 200 or 503 (never a 500)')
    t.equal(seen.ok, total, 'every event was finally accepted')

    for (const [c, customerId] of customerIds.entries()) {
      const metrics = await inject({
        method: 'GET',
        url: `/api/customers/${BUSINESS}/${customerId}/metrics`,
        headers: authFor(BUSINESS),
      })
      t.equal(metrics.statusCode, 200, `metrics of customer ${c}`)
      const actual = metrics.json().metrics as Record<string, unknown>
      const expected = expectedMetrics(salesByCustomer[c]!)
      t.same(
        Object.fromEntries(Object.keys(expected).map((field) => [field, actual[field]])),
        expected,
        `customer ${c}: no sale lost or doubled`,
      )
    }
    t.same(await findStalePurchaseHistory(database.db, BUSINESS), [], 'cache equals the ledger')
  },
)
