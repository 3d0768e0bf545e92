import { relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import fc from 'fast-check'
import t from 'tap'
import { findStalePurchaseHistory } from '../../db/customer-purchase-history.js'
import { authFor, build } from '../helper.js'
import { eventsFor, expectedMetrics, postEvent, type SaleSpec } from '../sales-feed.js'
import { runsFromEnvironment } from '../support/runs.js'

const BUSINESS = 7
/** 200 histories in CI, 50 in a plain `npm test`; PROPERTY_RUNS sets it. */
const RUNS = runsFromEnvironment('PROPERTY_RUNS', { ci: 200, local: 50 })
const SEED = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31)

const saleArbitrary = fc.record({
  totalCents: fc.integer({ min: 0, max: 5_000_000 }),
  items: fc.integer({ min: 0, max: 20 }),
  daysAgo: fc.integer({ min: 0, max: 700 }),
  refundSeeds: fc.array(fc.integer({ min: 1, max: 1_000_000 }), { maxLength: 3 }),
  voided: fc.boolean(),
  completedTwice: fc.boolean(),
})

const historyArbitrary = fc.record({
  sales: fc.array(saleArbitrary, { maxLength: 6 }),
  redeliveries: fc.array(fc.nat(), { maxLength: 4 }),
  orderKeys: fc.array(fc.nat(), { minLength: 40, maxLength: 40 }),
  waveSize: fc.integer({ min: 1, max: 8 }),
})

/** Refunds that are each positive and together never exceed the sale. */
function refundsFor(totalCents: number, seeds: number[]): number[] {
  const refunds: number[] = []
  let remaining = totalCents
  for (const seed of seeds) {
    if (remaining === 0) break
    const amount = 1 + (seed % remaining)
    refunds.push(amount)
    remaining -= amount
  }
  return refunds
}

t.comment(
  `fast-check seed=${SEED} runs=${RUNS} (replay: FC_SEED=${SEED} PROPERTY_RUNS=${RUNS} npx tap ${relative(process.cwd(), fileURLToPath(import.meta.url))})`,
)

t.test(
  'any history, duplicated, reordered and delivered concurrently, gives the model totals',
  async (t) => {
    const { inject, database } = await build(t)
    let run = 0

    await fc.assert(
      fc.asyncProperty(historyArbitrary, async (history) => {
        run += 1
        const created = await inject({
          method: 'POST',
          url: `/api/customers/${BUSINESS}`,
          headers: authFor(BUSINESS),
          payload: { name: `Property ${run}` },
        })
        if (created.statusCode !== 201) throw new Error(`create: ${created.statusCode}`)
        const customerId = created.json().customer.id as number

        const sales: SaleSpec[] = history.sales.map((sale, index) => ({
          saleId: `P${run}-S${index}`,
          totalCents: sale.totalCents,
          items: sale.items,
          completedAt: new Date(
            Date.now() - sale.daysAgo * 86_400_000 - index * 1000,
          ).toISOString(),
          refundsCents: refundsFor(sale.totalCents, sale.refundSeeds),
          voided: sale.voided,
        }))
        const events = eventsFor(BUSINESS, customerId, sales, `run${run}`)
        const recompletions = history.sales.flatMap((sale, index) => {
          const completion = events.find((event) => event.id === `run${run}-P${run}-S${index}-c`)
          return sale.completedTwice && completion
            ? [{ ...completion, id: `${completion.id}2` }]
            : []
        })
        const redelivered = events.length
          ? history.redeliveries.map((index) => events[index % events.length]!)
          : []
        const deliveries = [...events, ...recompletions, ...redelivered]
          .map((event, index) => ({ event, key: history.orderKeys[index % 40]! * 1000 + index }))
          .sort((a, b) => a.key - b.key)
          .map(({ event }) => event)

        const statuses: string[] = []
        for (let start = 0; start < deliveries.length; start += history.waveSize) {
          const wave = deliveries.slice(start, start + history.waveSize)
          const responses = await Promise.all(wave.map((event) => postEvent(inject, event)))
          for (const response of responses) {
            if (response.statusCode !== 200) {
              throw new Error(`delivery answered ${response.statusCode}: ${response.body}`)
            }
            statuses.push(response.json().status as string)
          }
        }
        const processed = statuses.filter((status) => status === 'processed').length
        if (processed !== events.length) {
          throw new Error(`${processed} events processed, expected ${events.length}`)
        }

        const metrics = await inject({
          method: 'GET',
          url: `/api/customers/${BUSINESS}/${customerId}/metrics`,
          headers: authFor(BUSINESS),
        })
        const actual = metrics.json().metrics as Record<string, unknown>
        const expected = expectedMetrics(sales)
        for (const [field, value] of Object.entries(expected)) {
          if (actual[field] !== value) {
            throw new Error(
              `${field}: got ${JSON.stringify(actual[field])}, model says ${JSON.stringify(value)}`,
            )
          }
        }
        const stale = await findStalePurchaseHistory(database.db, BUSINESS)
        if (stale.length > 0) throw new Error(`cache differs from ledger: ${JSON.stringify(stale)}`)
      }),
      { numRuns: RUNS, seed: SEED, endOnFailure: true },
    )
    t.equal(run, RUNS, `${RUNS} histories checked`)
  },
)
