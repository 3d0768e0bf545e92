import fc from 'fast-check'
import { sql } from 'kysely'
import t from 'tap'
import { findStalePurchaseHistory } from '../../db/customer-purchase-history.js'
import type { CustomersMerged } from '../../generated/schemas/CustomersMerged.js'
import { authFor, fileServer } from '../helper.js'
import { money, postEvent } from '../sales-feed.js'
import { createCustomerId } from '../support/customers.js'

const CUSTOMERS = 5

/** A step: a sale naming customer `who`, a merge of `source` into `target`, or an undo. */
type Step =
  | { kind: 'sale'; who: number; cents: number }
  | { kind: 'merge'; target: number; source: number }
  | { kind: 'undo'; pick: number }

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    kind: fc.constant('sale' as const),
    who: fc.nat(CUSTOMERS - 1),
    cents: fc.integer({ min: 1, max: 100_000 }),
  }),
  fc.record({
    kind: fc.constant('merge' as const),
    target: fc.nat(CUSTOMERS - 1),
    source: fc.nat(CUSTOMERS - 1),
  }),
  fc.record({ kind: fc.constant('undo' as const), pick: fc.nat(20) }),
)

t.test(
  'random merges and undos among sale events: histories always equal the ledger, and undoing every merge gives the state without merges',
  async (t) => {
    const { inject, database } = await fileServer(t)
    const db = database.db
    let business = 1700
    let sale = 0
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 25 }), async (steps) => {
        business += 1
        const ids: number[] = []
        for (let i = 0; i < CUSTOMERS; i++) {
          ids.push(await createCustomerId(inject, business, { name: `Prop ${business} ${i}` }))
        }
        /** Each sale and the customer its event named. */
        const named = new Map<string, number>()
        const open: number[] = []
        const stale = async () => findStalePurchaseHistory(db, business)
        for (const s of steps) {
          if (s.kind === 'sale') {
            const saleId = `P${business}-${++sale}`
            const response = await postEvent(inject, {
              id: `prop-${saleId}`,
              type: 'sale.completed',
              created_at: new Date().toISOString(),
              data: {
                sale_id: saleId,
                business_id: business,
                customer_id: ids[s.who],
                total_amount: money(s.cents),
                items_count: 1,
                payment_method: 'cash',
                completed_at: '2026-11-20T09:00:00.000Z',
              },
            })
            if (response.statusCode !== 200) throw new Error(`sale: ${response.body}`)
            named.set(saleId, ids[s.who]!)
          } else if (s.kind === 'merge') {
            const response = await inject({
              method: 'POST',
              url: `/api/customers/${business}/${ids[s.target]}/merge`,
              headers: authFor(business),
              payload: { source_ids: [ids[s.source]] },
            })
            // Refused when the source is the target, or either is merged already.
            if (![200, 422].includes(response.statusCode)) {
              throw new Error(`merge: ${response.statusCode} ${response.body}`)
            }
            if (response.statusCode === 200) open.push(response.json<CustomersMerged>().merge.id)
          } else if (open.length > 0) {
            const index = s.pick % open.length
            const response = await inject({
              method: 'POST',
              url: `/api/customers/${business}/merges/${open[index]}/undo`,
              headers: authFor(business),
            })
            // 409 when its target was merged since: that merge must be undone first.
            if (![200, 409].includes(response.statusCode)) {
              throw new Error(`undo: ${response.statusCode} ${response.body}`)
            }
            if (response.statusCode === 200) open.splice(index, 1)
          }
          const behind = await stale()
          if (behind.length > 0) throw new Error(`stale after ${s.kind}: ${JSON.stringify(behind)}`)
        }
        // Undo what is left, newest first: always allowed.
        while (open.length > 0) {
          const mergeId = open.pop()
          const response = await inject({
            method: 'POST',
            url: `/api/customers/${business}/merges/${mergeId}/undo`,
            headers: authFor(business),
          })
          if (response.statusCode !== 200) {
            throw new Error(`final undo: ${response.statusCode} ${response.body}`)
          }
        }
        const { rows: owners } = await sql<{ sale_id: string; customer_id: number }>`
          select sale_id, customer_id from customer_sales where business_id = ${business}`.execute(
          db,
        )
        for (const row of owners) {
          if (named.get(row.sale_id) !== row.customer_id) {
            throw new Error(`sale ${row.sale_id} is ${row.customer_id}'s, not the named one's`)
          }
        }
        const { rows: customers } = await sql<{ active: number }>`
          select count(*)::int as active from customers
          where business_id = ${business} and is_active and merged_into is null`.execute(db)
        if (customers[0]?.active !== CUSTOMERS) throw new Error('a customer is still merged')
        if ((await stale()).length > 0) throw new Error('stale at the end')
      }),
      { numRuns: 12, seed: Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31) },
    )
    t.pass('every run held')
  },
)
