import fc from 'fast-check'
import type { InjectOptions } from 'fastify'
import { sql } from 'kysely'
import t from 'tap'
import { findStalePurchaseHistory } from '../../db/customer-purchase-history.js'
import type { CustomersMerged } from '../../generated/schemas/CustomersMerged.js'
import { authFor, fileServer, type TestServer } from '../helper.js'
import { money, postEvent, type SaleEventBody } from '../sales-feed.js'
import { createCustomerId } from '../support/customers.js'

const CUSTOMERS = 5
const RUNS = process.env.CI ? 25 : 12
type Inject = TestServer['inject']

/** A customer as the run creates it: contacts from small pools, so merges have fields to fill. */
interface CustomerSpec {
  phone: string | null
  email: string | null
  address: string | null
  favorites: number[]
  doNotContact: boolean
  notes: string[]
}

/**
 * A step: a sale naming customer `who` (its refund first when `refundFirst`), a refund of an
 * earlier sale, a redelivery of an earlier event, a merge of `source` into `target`, or an undo.
 */
type Step =
  | { kind: 'sale'; who: number; cents: number; refundFirst: boolean }
  | { kind: 'refund'; pick: number; cents: number }
  | { kind: 'redeliver'; pick: number }
  | { kind: 'merge'; target: number; source: number }
  | { kind: 'undo'; pick: number }

const customerSpec: fc.Arbitrary<CustomerSpec> = fc.record({
  phone: fc.constantFrom(null, '0712000001', '0712000002', '0733000003'),
  email: fc.constantFrom(null, 'wanjiru@example.co.ke', 'otieno@example.co.ke'),
  address: fc.constantFrom(null, 'Moi Avenue, Nairobi', 'Kenyatta Road, Thika'),
  favorites: fc.subarray([12, 7, 31, 5]),
  doNotContact: fc.boolean(),
  notes: fc.array(fc.constantFrom('Pays by M-Pesa', 'Likes fresh bread', 'Owes 200'), {
    maxLength: 2,
  }),
})

const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('sale' as const),
      who: fc.nat(CUSTOMERS - 1),
      cents: fc.integer({ min: 100, max: 100_000 }),
      refundFirst: fc.boolean(),
    }),
  },
  fc.record({
    kind: fc.constant('refund' as const),
    pick: fc.nat(40),
    cents: fc.integer({ min: 1, max: 5_000 }),
  }),
  fc.record({ kind: fc.constant('redeliver' as const), pick: fc.nat(40) }),
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('merge' as const),
      target: fc.nat(CUSTOMERS - 1),
      source: fc.nat(CUSTOMERS - 1),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('undo' as const), pick: fc.nat(20) }) },
)

async function setUp(inject: Inject, business: number, specs: CustomerSpec[]): Promise<number[]> {
  const ids: number[] = []
  for (const [index, spec] of specs.entries()) {
    const id = await createCustomerId(inject, business, {
      name: `Mteja ${index}`,
      ...(spec.phone ? { phone: spec.phone } : {}),
      ...(spec.email ? { email: spec.email } : {}),
      ...(spec.address ? { address: spec.address } : {}),
    })
    const preferences = await inject({
      method: 'PATCH',
      url: `/api/customers/${business}/${id}/preferences`,
      headers: authFor(business),
      payload: { favorite_products: spec.favorites, do_not_contact: spec.doNotContact },
    })
    if (preferences.statusCode !== 200) throw new Error(`preferences: ${preferences.body}`)
    for (const content of spec.notes) {
      const note = await inject({
        method: 'POST',
        url: `/api/customers/${business}/${id}/notes`,
        headers: authFor(business),
        payload: { content },
      })
      if (note.statusCode !== 201) throw new Error(`note: ${note.body}`)
    }
    ids.push(id)
  }
  return ids
}

/** What differs between two businesses' copies of one customer only by identity and time. */
const INCIDENTAL = new Set([
  'id',
  'customer_id',
  'business_id',
  'version',
  'created_at',
  'updated_at',
])

function comparable(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(comparable)
  if (value === null || typeof value !== 'object') return value
  return Object.fromEntries(
    Object.entries(value)
      .filter(([key]) => !INCIDENTAL.has(key))
      .map(([key, inner]) => [key, comparable(inner)]),
  )
}

/** Every customer as GET shows it (notes, preferences, history), and every sale's owner by index. */
async function stateOf(
  inject: Inject,
  db: TestServer['database']['db'],
  business: number,
  ids: number[],
) {
  const customers = []
  for (const id of ids) {
    const response = await inject({
      method: 'GET',
      url: `/api/customers/${business}/${id}`,
      headers: authFor(business),
    })
    if (response.statusCode !== 200) throw new Error(`get: ${response.body}`)
    customers.push(comparable(response.json().customer))
  }
  const { rows } = await sql<{ sale_id: string; customer_id: number | null }>`
    select sale_id, customer_id from customer_sales where business_id = ${business}
    order by sale_id`.execute(db)
  const sales = rows.map((row) => [row.sale_id, ids.indexOf(row.customer_id ?? -1)])
  return { customers, sales }
}

t.test(
  'random merges and undos among sale events (refunds first, redeliveries): histories always equal the ledger, and undoing every merge gives exactly the state of a twin business without merges',
  async (t) => {
    const { inject, database } = await fileServer(t)
    const db = database.db
    let business = 1700
    await fc.assert(
      fc.asyncProperty(
        fc.array(customerSpec, { minLength: CUSTOMERS, maxLength: CUSTOMERS }),
        fc.array(step, { minLength: 1, maxLength: 30 }),
        async (specs, steps) => {
          business += 2
          // The twin receives the same customers and sale events, and no merge.
          const twin = business + 1
          const ids = await setUp(inject, business, specs)
          const twinIds = await setUp(inject, twin, specs)
          const sent: { event: (b: number, who: number[]) => SaleEventBody }[] = []
          const saleIds: string[] = []
          const both = async (make: (b: number, who: number[]) => SaleEventBody) => {
            const here = await postEvent(inject, make(business, ids))
            const there = await postEvent(inject, make(twin, twinIds))
            if (here.statusCode !== there.statusCode) {
              throw new Error(`event: ${here.statusCode} ${here.body} but twin ${there.body}`)
            }
            if (![200, 422].includes(here.statusCode)) throw new Error(`event: ${here.body}`)
            sent.push({ event: make })
          }
          const open: number[] = []
          for (const [index, s] of steps.entries()) {
            if (s.kind === 'sale') {
              const saleId = `P-${index}`
              saleIds.push(saleId)
              const completion = (b: number, who: number[]): SaleEventBody => ({
                id: `prop-${saleId}-c`,
                type: 'sale.completed',
                created_at: new Date().toISOString(),
                data: {
                  sale_id: saleId,
                  business_id: b,
                  customer_id: who[s.who],
                  total_amount: money(s.cents),
                  items_count: 1,
                  payment_method: 'cash',
                  completed_at: '2026-11-20T09:00:00.000Z',
                },
              })
              const refund = (b: number, who: number[]): SaleEventBody => ({
                id: `prop-${saleId}-first-refund`,
                type: 'sale.refunded',
                created_at: new Date().toISOString(),
                data: {
                  sale_id: saleId,
                  business_id: b,
                  customer_id: who[s.who],
                  refund_amount: money(50),
                },
              })
              if (s.refundFirst) await both(refund)
              await both(completion)
            } else if (s.kind === 'refund' && saleIds.length > 0) {
              const saleId = saleIds[s.pick % saleIds.length]!
              await both((b) => ({
                id: `prop-${saleId}-refund-${index}`,
                type: 'sale.refunded',
                created_at: new Date().toISOString(),
                // A refund may name nobody: it applies to the sale whoever it belongs to.
                data: {
                  sale_id: saleId,
                  business_id: b,
                  customer_id: null,
                  refund_amount: money(s.cents),
                },
              }))
            } else if (s.kind === 'redeliver' && sent.length > 0) {
              await both(sent[s.pick % sent.length]!.event)
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
            } else if (s.kind === 'undo' && open.length > 0) {
              const at = s.pick % open.length
              const response = await inject({
                method: 'POST',
                url: `/api/customers/${business}/merges/${open[at]}/undo`,
                headers: authFor(business),
              })
              // 409 when its target was merged since: that merge must be undone first.
              if (![200, 409].includes(response.statusCode)) {
                throw new Error(`undo: ${response.statusCode} ${response.body}`)
              }
              if (response.statusCode === 200) open.splice(at, 1)
            }
            const behind = await findStalePurchaseHistory(db, business)
            if (behind.length > 0) {
              throw new Error(`stale after ${s.kind}: ${JSON.stringify(behind)}`)
            }
          }
          // Undo what is left, newest first: always allowed.
          while (open.length > 0) {
            const request: InjectOptions = {
              method: 'POST',
              url: `/api/customers/${business}/merges/${open.pop()}/undo`,
              headers: authFor(business),
            }
            const response = await inject(request)
            if (response.statusCode !== 200) {
              throw new Error(`final undo: ${response.statusCode} ${response.body}`)
            }
          }
          const merged = JSON.stringify(await stateOf(inject, db, business, ids))
          const plain = JSON.stringify(await stateOf(inject, db, twin, twinIds))
          if (merged !== plain)
            throw new Error(`after every undo:\n${merged}\nwithout merges:\n${plain}`)
        },
      ),
      { numRuns: RUNS, seed: Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31) },
    )
    t.pass('every run held')
  },
)
