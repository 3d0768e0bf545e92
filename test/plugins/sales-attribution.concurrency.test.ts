import { setTimeout as sleep } from 'node:timers/promises'
import { sql } from 'kysely'
import t from 'tap'
import { findStalePurchaseHistory } from '../../db/customer-purchase-history.js'
import { authFor } from '../helper.js'
import { runScript } from '../scripts/run-script.js'
import { money, postEvent, type SaleEventBody } from '../sales-feed.js'
import { twoInstances } from '../support/instances.js'

const BUSINESS = 9
const EVENTS = 50
const ROUNDS = 20

/** The ways a payer's number arrives, the national digits given (`7xxxxxxxx`). */
const FORMATS = [
  (digits: string) => `0${digits}`,
  (digits: string) => `+254${digits}`,
  (digits: string) => `254${digits}`,
  (digits: string) => `0${digits.slice(0, 3)} ${digits.slice(3, 6)} ${digits.slice(6)}`,
]

t.test(
  `${EVENTS} events for one unregistered payer racing the create of that customer, through two instances, ${ROUNDS} times: each sale attributed exactly once`,
  async (t) => {
    const { database, first, second } = await twoInstances(t)
    const instances = [first.inject, second.inject]

    const attachedByRound: number[] = []
    for (let round = 1; round <= ROUNDS; round++) {
      const digits = `7450${String(round).padStart(5, '0')}`
      const sales = Array.from({ length: EVENTS }, (_, index) => ({
        saleId: `R${round}-S${index}`,
        cents: 10_000 + round * 100 + index,
      }))
      const events: SaleEventBody[] = sales.map((sale, index) => ({
        id: `attr-r${round}-${index}`,
        type: 'sale.completed',
        created_at: new Date().toISOString(),
        data: {
          sale_id: sale.saleId,
          business_id: BUSINESS,
          customer_id: null,
          total_amount: money(sale.cents),
          items_count: 1,
          payment_method: 'mpesa',
          completed_at: new Date(Date.UTC(2026, 10, 1) + index * 60_000).toISOString(),
          payer: { phone: FORMATS[index % FORMATS.length]!(digits) },
        },
      }))
      // Some events are answered before the create; the rest race it, on both instances.
      const createAt = (round * 7) % 25
      const early = await Promise.all(
        events.slice(0, createAt).map((event, index) => postEvent(instances[index % 2]!, event)),
      )
      // Spread over ~50 ms so that the create, which needs a pool connection too, lands among them.
      const late = events.slice(createAt).map(async (event, index) => {
        await sleep(index)
        return postEvent(instances[(createAt + index) % 2]!, event)
      })
      const created = await instances[round % 2]!({
        method: 'POST',
        url: `/api/customers/${BUSINESS}`,
        headers: authFor(BUSINESS),
        payload: { name: `Racing Payer ${round}`, phone: `0${digits}` },
      })
      const answers = [...early, ...(await Promise.all(late))]

      const name = `round ${round}`
      t.equal(created.statusCode, 201, `${name}: created`)
      const customerId = created.json().customer.id as number
      const attached = created.json().attached_sales as number
      attachedByRound.push(attached)
      t.same(
        answers.map((answer) => answer.statusCode),
        events.map(() => 200),
        `${name}: every event answered 200`,
      )
      const statuses = answers.map((answer) => answer.json() as Record<string, unknown>)
      const unattributed = statuses.filter((answer) => answer.status === 'unattributed').length
      const matched = statuses.filter(
        (answer) =>
          answer.status === 'processed' &&
          answer.customer_id === customerId &&
          answer.matched_by === 'phone',
      ).length
      t.equal(unattributed + matched, EVENTS, `${name}: each event unattributed or matched`)
      t.equal(attached, unattributed, `${name}: the create attached exactly the waiting sales`)

      const { rows } = await sql<{ owner: number | null; sales: number }>`
        select customer_id as owner, count(*)::int as sales from customer_sales
        where business_id = ${BUSINESS} and sale_id like ${`R${round}-S%`}
        group by customer_id`.execute(database.db)
      t.same(rows, [{ owner: customerId, sales: EVENTS }], `${name}: every sale is the customer's`)

      const metrics = await first.inject({
        method: 'GET',
        url: `/api/customers/${BUSINESS}/${customerId}/metrics`,
        headers: authFor(BUSINESS),
      })
      const totalCents = sales.reduce((sum, sale) => sum + sale.cents, 0)
      t.match(
        metrics.json().metrics,
        { total_purchases: EVENTS, total_spent: money(totalCents) },
        `${name}: counted once each`,
      )
    }
    // How the races fell: sales waiting when the create took the payer's lock, per round.
    t.comment(`attached per round: ${attachedByRound.join(' ')}`)
    t.same(await findStalePurchaseHistory(database.db, BUSINESS), [], 'cache equals the ledger')
    if (database.target.kind === 'postgres') {
      // The operator's check, as run against a live database.
      const check = await runScript(
        'scripts/recompute.ts',
        ['--business', String(BUSINESS), '--check'],
        {
          DATABASE_URL: database.target.url,
        },
      )
      t.equal(check.code, 0, `npm run recompute -- --check: exit 0 (${check.stderr})`)
      t.match(check.stdout, /0 purchase-history rows differ/, 'no row differs from the ledger')
    }
  },
)

t.test(
  'a customer deactivated while M-Pesa sales from their phone arrive: no deadlock, every sale counted once',
  async (t) => {
    const { database, first, second } = await twoInstances(t)
    const instances = [first.inject, second.inject]
    for (let round = 1; round <= 10; round++) {
      const digits = `7460${String(round).padStart(5, '0')}`
      const created = await first.inject({
        method: 'POST',
        url: `/api/customers/${BUSINESS}`,
        headers: authFor(BUSINESS),
        payload: { name: `Leaving Payer ${round}`, phone: `0${digits}` },
      })
      const customerId = created.json().customer.id as number
      const events: SaleEventBody[] = Array.from({ length: 30 }, (_, index) => ({
        id: `leave-r${round}-${index}`,
        type: 'sale.completed',
        created_at: new Date().toISOString(),
        data: {
          sale_id: `L${round}-S${index}`,
          business_id: BUSINESS,
          customer_id: null,
          total_amount: '10.00',
          completed_at: new Date(Date.UTC(2026, 10, 2) + index * 60_000).toISOString(),
          payer: { phone: FORMATS[index % FORMATS.length]!(digits) },
        },
      }))
      const deliveries = events.map(async (event, index) => {
        await sleep(index)
        return postEvent(instances[index % 2]!, event)
      })
      // Deactivated by DELETE or by PATCH is_active:false, in turn, while the sales arrive.
      await sleep(10)
      const leaving = instances[round % 2]!({
        method: round % 2 ? 'DELETE' : 'PATCH',
        url: `/api/customers/${BUSINESS}/${customerId}`,
        headers: authFor(BUSINESS),
        ...(round % 2 ? {} : { payload: { is_active: false } }),
      })
      const [left, ...answers] = await Promise.all([leaving, ...deliveries])
      const name = `round ${round}`
      t.equal(left.statusCode, 200, `${name}: deactivated`)
      t.same(
        answers.map((answer) => answer.statusCode),
        events.map(() => 200),
        `${name}: every sale answered 200`,
      )
      const matched = answers.filter((answer) => answer.json().status === 'processed').length
      const { rows } = await sql<{ owned: number; waiting: number }>`
        select count(*) filter (where customer_id = ${customerId})::int as owned,
          count(*) filter (where customer_id is null)::int as waiting
        from customer_sales
        where business_id = ${BUSINESS} and sale_id like ${`L${round}-S%`}`.execute(database.db)
      t.same(rows[0], { owned: matched, waiting: 30 - matched }, `${name}: each sale once`)
    }
    t.same(await findStalePurchaseHistory(database.db, BUSINESS), [], 'cache equals the ledger')
  },
)
