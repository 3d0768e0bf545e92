import { relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import fc from 'fast-check'
import Fastify from 'fastify'
import { sql } from 'kysely'
import t from 'tap'
import * as purchaseHistory from '../../db/customer-purchase-history.js'
import type * as AppModule from '../../app.js'
import { serverOptions } from '../../server-options.js'
import type * as AttributionModule from '../../services/sales-attribution.js'
import { authFor, build, testConfig, testDatabase, type TestServer } from '../helper.js'
import {
  eventsFor,
  expectedMetrics,
  kenyanPayer,
  kenyanPhoneFormats,
  phoneDigitsSha256,
  postEvent,
  withoutCustomer,
  type SaleEventBody,
  type SaleSpec,
} from '../sales-feed.js'
import { runsFromEnvironment } from '../support/runs.js'

const { findStalePurchaseHistory } = purchaseHistory

const BUSINESS = 7
/** 200 histories in CI, 50 in a plain `npm test`; PROPERTY_RUNS sets it. */
const RUNS = runsFromEnvironment('PROPERTY_RUNS', { ci: 200, local: 50 })
const SEED = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31)

const saleFields = {
  totalCents: fc.integer({ min: 0, max: 5_000_000 }),
  items: fc.integer({ min: 0, max: 20 }),
  daysAgo: fc.integer({ min: 0, max: 700 }),
  refundSeeds: fc.array(fc.integer({ min: 1, max: 1_000_000 }), { maxLength: 3 }),
  voided: fc.boolean(),
  completedTwice: fc.boolean(),
}

const saleArbitrary = fc.record(saleFields)

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

// ---------------------------------------------------------------------------------------------
// Payers (issue 14): sales that name no customer but carry the M-Pesa payer, attributed by phone,
// kept unattributed, and attached when a customer gets the phone between (or during) the waves.

type Inject = TestServer['inject']
type Db = TestServer['database']['db']

/** At most this many payers per history; with the run number it makes every phone unique. */
const MAX_PAYERS = 3

/**
 * Every payer history of this file (both apps) has its own number, and with it its own business
 * (PAYER_BUSINESSES + number), phones and sale ids. One business per history keeps the
 * whole-business recompute check (d) as cheap in the 200th history as in the first.
 */
let payerRun = 0
const PAYER_BUSINESSES = 1000

const payerArbitrary = fc.record({
  /**
   * before: a customer has the phone before the first delivery; created: POSTed with the phone
   * between two waves (or together with a wave); patched: a customer without phone exists from
   * the start and is PATCHed with it; never: the payer's sales wait to the end.
   */
  fate: fc.constantFrom('before', 'created', 'patched', 'never'),
  /** The wave boundary of the create or patch (mod the number of waves + 1). */
  at: fc.nat(),
  /** Send the create or patch together with that wave's deliveries instead of before them. */
  concurrent: fc.boolean(),
  /** Which of the four formats the create or patch writes the phone in. */
  phoneFormat: fc.nat(3),
  /** A second customer with the same phone, created later: never the oldest, never gets a sale. */
  twin: fc.boolean(),
  twinAt: fc.nat(),
})

const payerSaleArbitrary = fc.record({
  ...saleFields,
  /** named: the till picked the customer; payer: customer_id null with a payer; walk-in: neither. */
  owner: fc.oneof(
    { weight: 2, arbitrary: fc.constant('named' as const) },
    { weight: 4, arbitrary: fc.constant('payer' as const) },
    { weight: 1, arbitrary: fc.constant('walk-in' as const) },
  ),
  /** Which payer (mod the history's payers). */
  payer: fc.nat(),
  /** The payer's form (four phone formats or the hash) on the completion, refunds 1-3, void, re-completion. */
  payerFormats: fc.array(fc.nat(4), { minLength: 6, maxLength: 6 }),
  /** Whether each refund (and then the void) of a payer sale carries the payer too. */
  adjustmentsCarryPayer: fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }),
  /** A named sale whose completion carries a payer too: the payer is only stored. */
  namedWithPayer: fc.boolean(),
})

const payerHistoryArbitrary = fc.record({
  payers: fc.array(payerArbitrary, { minLength: 1, maxLength: MAX_PAYERS }),
  sales: fc.array(payerSaleArbitrary, { maxLength: 8 }),
  redeliveries: fc.array(fc.nat(), { maxLength: 6 }),
  orderKeys: fc.array(fc.nat(), { minLength: 60, maxLength: 60 }),
  waveSize: fc.integer({ min: 1, max: 8 }),
})

const ANSWERS = new Set(['processed', 'unattributed', 'ignored', 'duplicate'])

/**
 * The payer property, against any app (the real one, or a mutant): each history in a business
 * of its own, checked against the model at the end.
 */
function payerProperty(inject: Inject, db: Db) {
  return fc.asyncProperty(payerHistoryArbitrary, async (history) => {
    payerRun += 1
    const run = payerRun
    const business = PAYER_BUSINESSES + run
    const headers = authFor(business)
    /** A failed check, named by its letter: `(b) business 1012: customer 12 total_spent: …`. */
    const failure = (check: string, message: string): Error =>
      new Error(`(${check}) business ${business}: ${message}`)
    async function write(method: 'POST' | 'PATCH', path: string, payload: object) {
      const response = await inject({
        method,
        url: `/api/customers/${business}${path}`,
        headers,
        payload,
      })
      const expected = method === 'POST' ? 201 : 200
      if (response.statusCode !== expected) {
        throw failure('a', `${method} ${path || '/'}: ${response.statusCode} ${response.body}`)
      }
      return response.json() as { customer: { id: number }; attached_sales: number }
    }

    const named = (await write('POST', '', { name: `Named ${run}` })).customer.id

    const payers = history.payers.map((plan, index) => ({
      plan,
      index,
      /** The nine national digits: 71 + the run and payer number, so runs never collide. */
      national: `71${String(run * MAX_PAYERS + index).padStart(7, '0')}`,
      /** The payer's customer (the oldest with the phone) once it exists. */
      customerId: undefined as number | undefined,
      attached: undefined as number | undefined,
      twinId: undefined as number | undefined,
      twinAttached: undefined as number | undefined,
    }))
    type Payer = (typeof payers)[number]
    for (const payer of payers) {
      if (payer.plan.fate === 'patched') {
        payer.customerId = (
          await write('POST', '', { name: `Phone later ${run}-${payer.index}` })
        ).customer.id
      }
    }

    const plans = history.sales.map((sale, index) => ({
      sale,
      owner: sale.owner,
      payer: payers[sale.payer % payers.length]!,
      spec: {
        saleId: `Q${run}-S${index}`,
        totalCents: sale.totalCents,
        items: sale.items,
        completedAt: new Date(Date.now() - sale.daysAgo * 86_400_000 - index * 1000).toISOString(),
        refundsCents: refundsFor(sale.totalCents, sale.refundSeeds),
        voided: sale.voided,
      } satisfies SaleSpec,
    }))
    type Plan = (typeof plans)[number]

    interface Delivery {
      event: SaleEventBody
      plan: Plan
      /** A payer sale's event that carries the payer: after it the sale waits for that payer. */
      bringsPayer: boolean
    }
    /** Event `slot` of the plan's sale (0 completion, 1-3 refunds, then the void; 5 re-completion) as sent. */
    function shaped(plan: Plan, event: SaleEventBody, slot: number): Delivery {
      const payer = kenyanPayer(plan.payer.national, plan.sale.payerFormats[slot]!)
      switch (plan.owner) {
        case 'named': {
          const withPayer = event.type === 'sale.completed' && plan.sale.namedWithPayer
          const body = withPayer ? { ...event, data: { ...event.data, payer } } : event
          return { event: body, plan, bringsPayer: false }
        }
        case 'walk-in':
          return { event: withoutCustomer(event), plan, bringsPayer: false }
        case 'payer': {
          const carries =
            event.type === 'sale.completed' || plan.sale.adjustmentsCarryPayer[slot - 1]!
          return {
            event: withoutCustomer(event, carries ? payer : undefined),
            plan,
            bringsPayer: carries,
          }
        }
      }
    }
    const sent = plans.flatMap((plan) =>
      eventsFor(business, named, [plan.spec], `q${run}`).map((event, slot) =>
        shaped(plan, event, slot),
      ),
    )
    const recompletions = plans.flatMap((plan) => {
      const completion = eventsFor(business, named, [plan.spec], `q${run}`)[0]!
      return plan.sale.completedTwice
        ? [shaped(plan, { ...completion, id: `${completion.id}2` }, 5)]
        : []
    })
    const events = [...sent, ...recompletions]
    const redelivered = events.length
      ? history.redeliveries.map((index) => events[index % events.length]!)
      : []
    const deliveries = [...events, ...redelivered]
      .map((delivery, index) => ({
        delivery,
        key: history.orderKeys[index % history.orderKeys.length]! * 1000 + index,
      }))
      .sort((a, b) => a.key - b.key)
      .map(({ delivery }) => delivery)
    const waves = Math.ceil(deliveries.length / history.waveSize)

    /** When each payer's customer gets the phone: before wave `boundary`, or together with it. */
    interface Write {
      payer: Payer
      twin: boolean
      boundary: number
      concurrent: boolean
    }
    const writes: Write[] = payers.flatMap((payer) => {
      const { fate, at, concurrent, twin, twinAt } = payer.plan
      if (fate === 'never') return []
      const boundary = fate === 'before' ? 0 : at % (waves + 1)
      const together = fate !== 'before' && concurrent && boundary < waves
      const original = { payer, twin: false, boundary, concurrent: together }
      if (!twin) return [original]
      // After the original has committed: a later boundary, or after the wave it went with.
      const twinBoundary = Math.min(
        waves,
        Math.max(boundary + (together ? 1 : 0), twinAt % (waves + 1)),
      )
      return [original, { payer, twin: true, boundary: twinBoundary, concurrent: false }]
    })
    async function perform({ payer, twin }: Write): Promise<void> {
      const phone = kenyanPhoneFormats(payer.national)[
        (payer.plan.phoneFormat + (twin ? 1 : 0)) % 4
      ]!
      if (twin) {
        const body = await write('POST', '', { name: `Twin ${run}-${payer.index}`, phone })
        payer.twinId = body.customer.id
        payer.twinAttached = body.attached_sales
      } else if (payer.plan.fate === 'patched') {
        payer.attached = (await write('PATCH', `/${payer.customerId}`, { phone })).attached_sales
      } else {
        const body = await write('POST', '', { name: `Payer ${run}-${payer.index}`, phone })
        payer.customerId = body.customer.id
        payer.attached = body.attached_sales
      }
    }

    const answers: { delivery: Delivery; wave: number; status: string; customerId?: number }[] = []
    for (let boundary = 0; boundary <= waves; boundary += 1) {
      const here = writes.filter((w) => w.boundary === boundary)
      const sequential = [
        ...here.filter((w) => !w.concurrent && !w.twin),
        ...here.filter((w) => w.twin),
      ]
      for (const w of sequential) await perform(w)
      if (boundary === waves) break
      const wave = deliveries.slice(boundary * history.waveSize, (boundary + 1) * history.waveSize)
      const [responses] = await Promise.all([
        Promise.all(wave.map((delivery) => postEvent(inject, delivery.event))),
        Promise.all(here.filter((w) => w.concurrent).map(perform)),
      ])
      for (const [index, response] of responses.entries()) {
        const delivery = wave[index]!
        if (response.statusCode !== 200) {
          throw failure(
            'a',
            `${delivery.event.id} answered ${response.statusCode}: ${response.body}`,
          )
        }
        const body = response.json() as { status: string; customer_id?: number }
        answers.push({
          delivery,
          wave: boundary,
          status: body.status,
          customerId: body.customer_id,
        })
      }
    }

    // (a) Every answer is one of the four, and says what the model says about the sale's owner.
    // An event that carries the payer is `processed` once the payer's customer has the phone,
    // `unattributed` while nobody has it, either in the wave the write was sent with, and may
    // always be a `duplicate` (a redelivery, or a re-completion).
    const originals = new Map(writes.filter((w) => !w.twin).map((w) => [w.payer, w]))
    for (const { delivery, status, customerId, wave } of answers) {
      const { plan, event } = delivery
      const what = `${event.id} (${plan.owner} sale, wave ${wave}): ${status} ${customerId ?? ''}`
      if (!ANSWERS.has(status)) throw failure('a', what)
      if (delivery.bringsPayer && status !== 'duplicate') {
        const phoneGiven = originals.get(plan.payer)
        const absentBefore = phoneGiven?.boundary ?? Infinity
        const seenFrom = phoneGiven
          ? phoneGiven.boundary + (phoneGiven.concurrent ? 1 : 0)
          : Infinity
        const allowed =
          wave >= seenFrom
            ? ['processed']
            : wave < absentBefore
              ? ['unattributed']
              : ['processed', 'unattributed']
        if (!allowed.includes(status))
          throw failure('a', `${what}, expected ${allowed.join(' or ')}`)
      }
      const owner = plan.owner === 'named' ? named : plan.payer.customerId
      if (status === 'processed' && (plan.owner === 'walk-in' || customerId !== owner)) {
        throw failure('a', `${what}, the sale is customer ${owner}'s`)
      }
      if (plan.owner === 'named' && status !== 'processed' && status !== 'duplicate') {
        throw failure('a', what)
      }
      if (plan.owner === 'walk-in' && status !== 'ignored' && status !== 'duplicate') {
        throw failure('a', what)
      }
    }

    // (b) Each customer's metrics are the model's over exactly its sales: the named ones, and
    // every sale of its payer, whether it came before or after the customer got the phone.
    const ownedBy = (payer: Payer) =>
      plans.filter((plan) => plan.owner === 'payer' && plan.payer === payer).map((p) => p.spec)
    const customers: { id: number; sales: SaleSpec[] }[] = [
      { id: named, sales: plans.filter((plan) => plan.owner === 'named').map((p) => p.spec) },
      ...payers.flatMap((payer) => [
        ...(payer.customerId === undefined
          ? []
          : [{ id: payer.customerId, sales: ownedBy(payer) }]),
        ...(payer.twinId === undefined ? [] : [{ id: payer.twinId, sales: [] }]),
      ]),
    ]
    for (const customer of customers) {
      const response = await inject({
        method: 'GET',
        url: `/api/customers/${business}/${customer.id}/metrics`,
        headers,
      })
      if (response.statusCode !== 200) throw failure('b', `metrics: ${response.statusCode}`)
      const actual = response.json().metrics as Record<string, unknown>
      for (const [field, value] of Object.entries(expectedMetrics(customer.sales))) {
        if (actual[field] !== value) {
          throw failure(
            'b',
            `customer ${customer.id} ${field}: got ${JSON.stringify(actual[field])}, model says ${JSON.stringify(value)}`,
          )
        }
      }
    }

    // (c) The ledger: every sale is there, with its owner; a payer without customer's sales wait
    // (customer_id null) with the payer's hash; a walk-in's sale has neither.
    const { rows } = await sql<{
      sale_id: string
      customer_id: string | number | null
      matched_by: string | null
      payer: string | null
    }>`select sale_id, customer_id, matched_by, encode(payer_phone_sha256, 'hex') as payer
      from customer_sales where business_id = ${business} and sale_id like ${`Q${run}-%`}`.execute(
      db,
    )
    const ledger = new Map(rows.map((row) => [row.sale_id, row]))
    for (const plan of plans) {
      const row = ledger.get(plan.spec.saleId)
      const hash = phoneDigitsSha256(`254${plan.payer.national}`)
      const owner =
        plan.owner === 'named' ? named : plan.owner === 'payer' ? plan.payer.customerId : undefined
      const expected = {
        customer_id: owner ?? null,
        payer:
          plan.owner === 'payer' || (plan.owner === 'named' && plan.sale.namedWithPayer)
            ? hash
            : null,
        matched: plan.owner === 'payer' && owner !== undefined,
      }
      const actual = row && {
        customer_id: row.customer_id === null ? null : Number(row.customer_id),
        payer: row.payer,
        matched: row.matched_by !== null,
      }
      if (!actual || JSON.stringify(actual) !== JSON.stringify(expected)) {
        throw failure(
          'c',
          `sale ${plan.spec.saleId} (${plan.owner}): ledger ${JSON.stringify(row)}, model ${JSON.stringify(expected)}`,
        )
      }
    }

    // (d) The cache equals a recomputation from the ledger (what `npm run recompute -- --check` runs).
    const stale = await findStalePurchaseHistory(db, business)
    if (stale.length > 0) throw failure('d', `cache differs from ledger: ${JSON.stringify(stale)}`)

    // (e) A create or patch attaches exactly the payer's sales that were waiting: those with an
    // event carrying the payer delivered in an earlier wave (a sale whose only earlier events
    // were refunds or voids without the payer has no payer in the ledger yet, so it does not
    // wait for anyone). Sent together with a wave, it may also take that wave's sales. A twin
    // comes after the oldest customer took them all: it attaches none.
    const firstPayerWave = new Map<Plan, number>()
    for (const { delivery, wave } of answers) {
      if (delivery.bringsPayer && !firstPayerWave.has(delivery.plan)) {
        firstPayerWave.set(delivery.plan, wave)
      }
    }
    for (const { payer, twin, boundary, concurrent } of writes) {
      const arrived = (last: number) =>
        plans.filter(
          (plan) =>
            plan.owner === 'payer' &&
            plan.payer === payer &&
            (firstPayerWave.get(plan) ?? Infinity) <= last,
        ).length
      const [least, most] = twin
        ? [0, 0]
        : [arrived(boundary - 1), arrived(concurrent ? boundary : boundary - 1)]
      const attached = twin ? payer.twinAttached : payer.attached
      if (attached === undefined || attached < least || attached > most) {
        throw failure(
          'e',
          `payer ${payer.index} (${payer.plan.fate}${twin ? ', twin' : ''}${concurrent ? ', with wave' : ''} at ${boundary}): attached ${attached}, model says ${least === most ? least : `${least}-${most}`}`,
        )
      }
    }
  })
}

t.test(
  'any history with payers, attributed, unattributed and attached midway, gives the model totals',
  async (t) => {
    const { inject, database } = await build(t)
    const first = payerRun
    await fc.assert(payerProperty(inject, database.db), {
      numRuns: RUNS,
      seed: SEED,
      endOnFailure: true,
    })
    t.equal(payerRun - first, RUNS, `${RUNS} histories with payers checked`)
  },
)

/** The mutant's histories: a fixed seed, and few of them. */
const MUTANT_SEED = 14
const MUTANT_RUNS = 30

/**
 * A mock for t.mockImport under both spellings of a source file: the code imports `x.js`, and
 * tsx hands the mock loader `x.ts` (the loader only sees the name tsx asks for).
 */
const mockOf = (path: string, module: object): Record<string, object> => ({
  [path]: module,
  [path.replace(/\.js$/, '.ts')]: module,
})

t.test('the property catches a broken recompute', async (t) => {
  // The mutant models a real bug: attaching a payer's waiting sales to a customer who gets the
  // phone (create, patch) forgets to recompute that customer's history. The app is loaded with
  // a services/sales-attribution.ts whose db/customer-purchase-history.js has a
  // recomputePurchaseHistory that does nothing; in that service only attachPayerSales
  // recomputes, so the sales feed still recomputes with the real one.
  const brokenRecompute: typeof purchaseHistory = {
    ...purchaseHistory,
    recomputePurchaseHistory: async () => 0,
  }
  const attribution = await t.mockImport<typeof AttributionModule>(
    '../../services/sales-attribution.js',
    mockOf('../../db/customer-purchase-history.js', brokenRecompute),
  )
  const { default: mutantApp } = await t.mockImport<typeof AppModule>(
    '../../app.js',
    mockOf('../../services/sales-attribution.js', attribution),
  )
  const database = await testDatabase()
  const fastify = Fastify(serverOptions({ logLevel: 'silent' }))
  t.teardown(() => fastify.close())
  await fastify.register(mutantApp, { config: testConfig(), database })
  await fastify.ready()

  const details = await fc.check(
    payerProperty((options) => fastify.inject(options), database.db),
    { numRuns: MUTANT_RUNS, seed: MUTANT_SEED, endOnFailure: true },
  )
  const message =
    details.errorInstance instanceof Error
      ? details.errorInstance.message
      : String(details.errorInstance)
  t.ok(details.failed, `the property fails against the mutant (seed ${MUTANT_SEED})`)
  t.match(message, /^\((b|d)\) /, 'by its totals checks (metrics or recompute), not a crash')
  t.comment(`mutant caught in history ${details.numRuns} of ${MUTANT_RUNS}: ${message}`)
})
