/**
 * Generated sequences of mixed writes — create (endpoint 1), PATCH customer (5), PATCH
 * preferences (9), POST consents, merges and undos — on a few customers. After every step, for
 * every customer: the ledger equals a model kept from SPEC's rules alone, `current` is the
 * latest of the ledger rows, and the flags shown by GET customer and stored in the rows are
 * SPEC's views of it.
 */
import { relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import fc from 'fast-check'
import t from 'tap'
import type { CustomerCreated } from '../../../../generated/schemas/CustomerCreated.js'
import { authFor, fileServer, type TestServer } from '../../../helper.js'
import { flagsShown, getConsents, latestOf, viewsOf } from '../../../support/consents.js'
import { runsFromEnvironment } from '../../../support/runs.js'

type Inject = TestServer['inject']
type Db = TestServer['database']['db']

/** 100 sequences in CI, 15 in a plain `npm test`; PROPERTY_RUNS sets it. */
const RUNS = runsFromEnvironment('PROPERTY_RUNS', { ci: 100, local: 15 })
const SEED = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31)

const CHANNELS = ['sms', 'email', 'call', 'whatsapp'] as const
const PURPOSES = ['marketing', 'loyalty', 'service'] as const
const SOURCES = ['in_store', 'sms_reply', 'web', 'import', 'api'] as const
const MAX_CUSTOMERS = 4

type Status = 'granted' | 'withdrawn'
/** A customer's ledger as the model keeps it: the latest status per `channel:purpose`. */
type Ledger = Map<string, Status>

const maybe = <T>(arbitrary: fc.Arbitrary<T>) => fc.option(arbitrary, { nil: undefined })
const defined = (record: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined))

const step = fc.oneof(
  fc.record({
    kind: fc.constant('create' as const),
    flags: fc.record({
      prefer_sms: maybe(fc.boolean()),
      prefer_email: maybe(fc.boolean()),
      prefer_call: maybe(fc.boolean()),
    }),
  }),
  fc.record({
    kind: fc.constant('patchCustomer' as const),
    who: fc.nat(),
    flags: fc.record(
      { prefer_sms: fc.boolean(), prefer_email: fc.boolean(), prefer_call: fc.boolean() },
      { requiredKeys: [] },
    ),
    rename: fc.boolean(),
  }),
  fc.record({
    kind: fc.constant('patchPreferences' as const),
    who: fc.nat(),
    flags: fc.record(
      {
        do_not_contact: fc.boolean(),
        can_receive_offers: fc.boolean(),
        can_receive_loyalty: fc.boolean(),
      },
      { requiredKeys: [] },
    ),
    favorites: fc.boolean(),
  }),
  fc.record({
    kind: fc.constant('consent' as const),
    who: fc.nat(),
    channel: fc.constantFrom(...CHANNELS),
    purpose: fc.constantFrom(...PURPOSES),
    status: fc.constantFrom<Status>('granted', 'withdrawn'),
    source: fc.constantFrom(...SOURCES),
  }),
  fc.record({ kind: fc.constant('merge' as const), target: fc.nat(), source: fc.nat() }),
  fc.record({ kind: fc.constant('undo' as const), pick: fc.nat() }),
)
type Step = typeof step extends fc.Arbitrary<infer S> ? S : never

const granted = (ledger: Ledger) => [...ledger.values()].some((status) => status === 'granted')

/** SPEC's records for flags written, in the documented order. */
function applyFlags(ledger: Ledger, flags: Record<string, boolean | undefined>): void {
  if (flags.do_not_contact === false) ledger.set('sms:service', 'granted')
  for (const channel of ['sms', 'email', 'call'] as const) {
    const value = flags[`prefer_${channel}`]
    if (value !== undefined) ledger.set(`${channel}:service`, value ? 'granted' : 'withdrawn')
  }
  for (const [flag, purpose] of [
    ['can_receive_offers', 'marketing'],
    ['can_receive_loyalty', 'loyalty'],
  ] as const) {
    if (flags[flag] === true) ledger.set(`sms:${purpose}`, 'granted')
    if (flags[flag] === false) for (const c of CHANNELS) ledger.set(`${c}:${purpose}`, 'withdrawn')
  }
  if (flags.do_not_contact === true) withdrawAll(ledger)
}

function withdrawAll(ledger: Ledger): string[] {
  const withdrawn = [...ledger].filter(([, status]) => status === 'granted').map(([key]) => key)
  for (const key of withdrawn) ledger.set(key, 'withdrawn')
  return withdrawn
}

async function storedFlags(db: Db, business: number, id: number) {
  const row = await db
    .selectFrom('customers as c')
    .innerJoin('customer_preferences as p', (join) =>
      join.onRef('p.business_id', '=', 'c.business_id').onRef('p.customer_id', '=', 'c.id'),
    )
    .select([
      'c.prefer_sms',
      'c.prefer_email',
      'c.prefer_call',
      'p.can_receive_offers',
      'p.can_receive_loyalty',
      'p.do_not_contact',
    ])
    .where('c.business_id', '=', business)
    .where('c.id', '=', id)
    .executeTakeFirstOrThrow()
  return { ...row }
}

async function ledgerRows(db: Db, business: number, id: number) {
  return db
    .selectFrom('customer_consents')
    .select(['id', 'channel', 'purpose', 'status'])
    .where('business_id', '=', business)
    .where('customer_id', '=', id)
    .orderBy('id', 'desc')
    .execute()
}

t.comment(
  `fast-check seed=${SEED} runs=${RUNS} (replay: FC_SEED=${SEED} PROPERTY_RUNS=${RUNS} npx tap ${relative(process.cwd(), fileURLToPath(import.meta.url))})`,
)

t.test('after every write, the flags are the views of the ledger the rules predict', async (t) => {
  const { inject, database } = await fileServer(t)
  const db = database.db
  let business = 1900

  const send = async (inject: Inject, method: 'POST' | 'PATCH', url: string, payload?: object) =>
    inject({
      method,
      url: `/api/customers/${business}${url}`,
      headers: authFor(business),
      ...(payload ? { payload: payload as Record<string, unknown> } : {}),
    })

  await fc.assert(
    fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 15 }), async (steps: Step[]) => {
      business += 1
      const ids: number[] = []
      const model = new Map<number, Ledger>()
      const merges: { id: number; target: number; turnedOn: string[] | null }[] = []

      const create = async (flags: Record<string, boolean | undefined>) => {
        const response = await send(inject, 'POST', '', {
          name: `Prop ${ids.length}`,
          ...defined(flags),
        })
        if (response.statusCode !== 201) throw new Error(`create: ${response.body}`)
        const id = response.json<CustomerCreated>().customer.id
        ids.push(id)
        model.set(
          id,
          new Map<string, Status>([
            ['sms:service', flags.prefer_sms === false ? 'withdrawn' : 'granted'],
            ['email:service', flags.prefer_email === true ? 'granted' : 'withdrawn'],
            ['call:service', flags.prefer_call === true ? 'granted' : 'withdrawn'],
            ['sms:marketing', 'granted'],
            ['sms:loyalty', 'granted'],
          ]),
        )
      }
      await create({})
      await create({ prefer_email: true })

      for (const [index, s] of steps.entries()) {
        const pick = (n: number) => ids[n % ids.length]!
        const expectOk = (response: { statusCode: number; body: string }, status: number) => {
          if (response.statusCode !== status) {
            throw new Error(`step ${index} ${s.kind}: ${response.statusCode} ${response.body}`)
          }
        }
        if (s.kind === 'create') {
          if (ids.length < MAX_CUSTOMERS) await create(s.flags)
        } else if (s.kind === 'patchCustomer') {
          const id = pick(s.who)
          const body = { ...s.flags, ...(s.rename ? { name: `Renamed ${index}` } : {}) }
          if (Object.keys(body).length === 0) continue
          expectOk(await send(inject, 'PATCH', `/${id}`, body), 200)
          applyFlags(model.get(id)!, s.flags)
        } else if (s.kind === 'patchPreferences') {
          const id = pick(s.who)
          const body = { ...s.flags, ...(s.favorites ? { favorite_products: [index + 1] } : {}) }
          if (Object.keys(body).length === 0) continue
          expectOk(await send(inject, 'PATCH', `/${id}/preferences`, body), 200)
          applyFlags(model.get(id)!, s.flags)
        } else if (s.kind === 'consent') {
          const id = pick(s.who)
          const { channel, purpose, status, source } = s
          expectOk(
            await send(inject, 'POST', `/${id}/consents`, { channel, purpose, status, source }),
            201,
          )
          model.get(id)!.set(`${channel}:${purpose}`, status)
        } else if (s.kind === 'merge') {
          const [target, source] = [pick(s.target), pick(s.source)]
          const response = await send(inject, 'POST', `/${target}/merge`, { source_ids: [source] })
          // Refused: the source is the target, or either is merged already.
          if (![200, 422].includes(response.statusCode)) expectOk(response, 200)
          if (response.statusCode === 200) {
            const targetLedger = model.get(target)!
            const turnedOn = granted(targetLedger) && !granted(model.get(source)!)
            merges.push({
              id: (response.json() as { merge: { id: number } }).merge.id,
              target,
              turnedOn: turnedOn ? withdrawAll(targetLedger) : null,
            })
          }
        } else if (merges.length > 0) {
          const [merge] = merges.splice(s.pick % merges.length, 1)
          const response = await send(inject, 'POST', `/merges/${merge!.id}/undo`)
          // 409 when its target was merged since: that merge must be undone first.
          if (response.statusCode === 409) merges.push(merge!)
          else {
            expectOk(response, 200)
            const ledger = model.get(merge!.target)!
            if (merge!.turnedOn && !granted(ledger)) {
              for (const key of merge!.turnedOn) ledger.set(key, 'granted')
            }
          }
        }

        for (const id of ids) {
          const where = `step ${index} (${s.kind}), customer ${id}`
          const { current, history } = await getConsents(inject, business, id)
          const expected = model.get(id)!
          const shownCurrent = new Map(current.map((c) => [`${c.channel}:${c.purpose}`, c.status]))
          if (JSON.stringify([...shownCurrent].sort()) !== JSON.stringify([...expected].sort())) {
            throw new Error(
              `${where}: current ${JSON.stringify([...shownCurrent])}, the rules give ${JSON.stringify([...expected])}`,
            )
          }
          const rows = await ledgerRows(db, business, id)
          if (rows.length !== history.length) throw new Error(`${where}: history is not every row`)
          const fromRows = latestOf(rows)
          if (JSON.stringify([...fromRows].sort()) !== JSON.stringify([...shownCurrent].sort())) {
            throw new Error(`${where}: current is not the latest of the ledger rows`)
          }
          const views = viewsOf(current)
          const shown = await flagsShown(inject, business, id)
          if (JSON.stringify(shown.flags) !== JSON.stringify(views)) {
            throw new Error(
              `${where}: GET shows ${JSON.stringify(shown.flags)}, views ${JSON.stringify(views)}`,
            )
          }
          const stored = await storedFlags(db, business, id)
          if (JSON.stringify(stored) !== JSON.stringify(views)) {
            throw new Error(
              `${where}: stored ${JSON.stringify(stored)}, views ${JSON.stringify(views)}`,
            )
          }
        }
      }
    }),
    { numRuns: RUNS, seed: SEED, endOnFailure: true },
  )
  t.pass('every sequence held')
})
