import { sql } from 'kysely'
import t, { type Test } from 'tap'
import { findStalePurchaseHistory } from '../../../../db/customer-purchase-history.js'
import type { CustomerMetricsResponse } from '../../../../generated/schemas/CustomerMetricsResponse.js'
import type { CustomerResponse } from '../../../../generated/schemas/CustomerResponse.js'
import type { CustomersMerged } from '../../../../generated/schemas/CustomersMerged.js'
import type { DuplicateCandidates } from '../../../../generated/schemas/DuplicateCandidates.js'
import type { MergeUndone } from '../../../../generated/schemas/MergeUndone.js'
import { authFor, fileServer, type TestServer } from '../../../helper.js'
import { postEvent, type SaleEventBody } from '../../../sales-feed.js'
import { createCustomer } from '../../../support/customers.js'

type Inject = TestServer['inject']
type Db = TestServer['database']['db']

const COMPLETED_AT = '2026-11-20T09:00:00.000Z'
let sequence = 0
const nextId = (): string => `evt_merge_${process.pid}_${++sequence}`

function completion(
  business: number,
  saleId: string,
  customer: number | null,
  total: string,
  payer?: { phone: string },
): SaleEventBody {
  return {
    id: nextId(),
    type: 'sale.completed',
    created_at: new Date().toISOString(),
    data: {
      sale_id: saleId,
      business_id: business,
      customer_id: customer,
      total_amount: total,
      items_count: 1,
      payment_method: 'mpesa',
      completed_at: COMPLETED_AT,
      ...(payer ? { payer } : {}),
    },
  }
}

async function send(t: Test, inject: Inject, event: SaleEventBody, expected: object) {
  const response = await postEvent(inject, event)
  t.equal(response.statusCode, 200, `${String(event.data.sale_id)}: 200`)
  t.match(response.json(), expected, `${String(event.data.sale_id)}: answer`)
}

async function get(inject: Inject, business: number, url: string) {
  return inject({
    method: 'GET',
    url: `/api/customers/${business}${url}`,
    headers: authFor(business),
  })
}

async function post(
  inject: Inject,
  business: number,
  url: string,
  payload?: object,
  headers: Record<string, string> = {},
) {
  return inject({
    method: 'POST',
    url: `/api/customers/${business}${url}`,
    headers: { ...authFor(business), ...headers },
    ...(payload ? { payload } : {}),
  })
}

async function addNote(inject: Inject, business: number, customer: number, content: string) {
  const res = await post(inject, business, `/${customer}/notes`, { content })
  if (res.statusCode !== 201) throw new Error(`note failed: ${res.statusCode} ${res.body}`)
}

async function setPreferences(inject: Inject, business: number, customer: number, body: object) {
  const res = await inject({
    method: 'PATCH',
    url: `/api/customers/${business}/${customer}/preferences`,
    headers: authFor(business),
    payload: body,
  })
  if (res.statusCode !== 200) throw new Error(`preferences failed: ${res.statusCode} ${res.body}`)
}

/** Everything the API shows of a customer, less what every write moves (version, updated_at). */
async function snapshot(inject: Inject, business: number, customer: number) {
  const detail = (await get(inject, business, `/${customer}`)).json<CustomerResponse>().customer
  const without = <T extends object>(row: T, ...keys: string[]) =>
    Object.fromEntries(Object.entries(row).filter(([key]) => !keys.includes(key)))
  const rest = without(detail, 'version', 'updated_at', 'preferences', 'history')
  const prefs = without(detail.preferences, 'version', 'updated_at')
  const hist = without(detail.history, 'updated_at')
  const notes = (await get(inject, business, `/${customer}/notes?limit=100`)).json()
  const sales = (await get(inject, business, `/${customer}/history?limit=100`)).json()
  const metrics = (await get(inject, business, `/${customer}/metrics`)).json()
  return { customer: rest, preferences: prefs, history: hist, notes, sales, metrics }
}

async function metricsOf(inject: Inject, business: number, customer: number) {
  const res = await get(inject, business, `/${customer}/metrics`)
  return res.json<CustomerMetricsResponse>().metrics
}

const cents = (money: string): number => Math.round(Number(money) * 100)

async function rowCounts(db: Db, business: number, customer: number) {
  const { rows } = await sql<{ notes: number; sales: number }>`select
      (select count(*)::int from customer_notes
        where business_id = ${business} and customer_id = ${customer}) as notes,
      (select count(*)::int from customer_sales
        where business_id = ${business} and customer_id = ${customer}) as sales`.execute(db)
  return rows[0]
}

async function versionOf(inject: Inject, business: number, customer: number): Promise<number> {
  return (await get(inject, business, `/${customer}`)).json<CustomerResponse>().customer.version
}

/** Three entries of one person: a target with two notes and sales each, two sources likewise. */
async function family(inject: Inject, business: number, tag: string) {
  const target = await createCustomer(inject, business, {
    name: `Amina Otieno ${tag}`,
    address: 'Moi Avenue, Nairobi',
  })
  const first = await createCustomer(inject, business, {
    name: `Amina O ${tag}`,
    phone: `07${tag}000001`,
  })
  const second = await createCustomer(inject, business, {
    name: `A Otieno ${tag}`,
    phone: `07${tag}000002`,
    email: `amina.${tag}@example.co.ke`,
    address: 'Nyali, Mombasa',
  })
  await setPreferences(inject, business, target.id, { favorite_products: [1, 2] })
  await setPreferences(inject, business, first.id, {
    favorite_products: [2, 3],
    do_not_contact: true,
  })
  await setPreferences(inject, business, second.id, { favorite_products: [4] })
  await addNote(inject, business, target.id, 'target note')
  await addNote(inject, business, first.id, 'first note 1')
  await addNote(inject, business, first.id, 'first note 2')
  await addNote(inject, business, second.id, 'second note')
  const sale = (id: string, customer: number | null, total: string, payer?: { phone: string }) =>
    postEvent(inject, completion(business, `${tag}-${id}`, customer, total, payer))
  await sale('t1', target.id, '100.00')
  await sale('t2', target.id, '20.50')
  await sale('f1', first.id, '35.00')
  await sale('s1', second.id, '12.25')
  // Payer sales the payer rule gives the sources before any merge.
  await sale('fp', null, '7.00', { phone: `07${tag}000001` })
  await sale('sp', null, '9.00', { phone: `07${tag}000002` })
  return { target: target.id, first: first.id, second: second.id }
}

t.test(
  'merge moves exactly the notes and sales, fills only empty fields; undo restores all',
  async (t) => {
    const { inject, database } = await fileServer(t)
    const business = 1501
    const { target, first, second } = await family(inject, business, '11')
    const ids = [target, first, second]
    const before = await Promise.all(ids.map((id) => snapshot(inject, business, id)))
    const versions = await Promise.all(ids.map((id) => versionOf(inject, business, id)))
    const counts = await Promise.all(ids.map((id) => rowCounts(database.db, business, id)))
    const parts = await Promise.all(ids.map((id) => metricsOf(inject, business, id)))

    const res = await post(inject, business, `/${target}/merge`, { source_ids: [first, second] })
    t.equal(res.statusCode, 200, 'merge: 200')
    const body = res.json<CustomersMerged>()
    t.equal(body.message, 'Customers merged')
    t.match(body.merge, { target_id: target, source_ids: [first, second] }, 'merge record')
    t.equal(body.customer.phone, '+254711000001', 'phone filled from the first source')
    t.equal(body.customer.email, 'amina.11@example.co.ke', 'email filled from the second')
    t.equal(body.customer.address, 'Moi Avenue, Nairobi', 'an address it had stays')
    t.equal(body.customer.merged_into, null, 'the target is not merged')
    t.equal(body.customer.version, (versions[0] ?? 0) + 1, 'target version +1')

    const after = await Promise.all(ids.map((id) => rowCounts(database.db, business, id)))
    t.same(
      after[0],
      {
        notes: counts.reduce((sum, c) => sum + (c?.notes ?? 0), 0),
        sales: counts.reduce((sum, c) => sum + (c?.sales ?? 0), 0),
      },
      'the target holds every note and sale',
    )
    t.same(after.slice(1), [
      { notes: 0, sales: 0 },
      { notes: 0, sales: 0 },
    ])
    const merged = await metricsOf(inject, business, target)
    t.equal(
      merged.total_purchases,
      parts.reduce((sum, m) => sum + m.total_purchases, 0),
      'purchases: the sum of the parts',
    )
    t.equal(
      cents(merged.total_spent),
      parts.reduce((sum, m) => sum + cents(m.total_spent), 0),
      'spent: the sum of the parts',
    )
    t.same(merged.favorite_products, [1, 2, 3, 4], 'favorite products united')
    t.equal(merged.do_not_contact, true, 'do_not_contact of a source wins')
    for (const [index, id] of [first, second].entries()) {
      const source = (await get(inject, business, `/${id}`)).json<CustomerResponse>().customer
      t.equal(source.is_active, false, `source ${index}: inactive`)
      t.equal(source.merged_into, target, `source ${index}: merged_into`)
      t.equal(source.version, (versions[index + 1] ?? 0) + 1, `source ${index}: version +1`)
      const pairs = (await get(inject, business, `/${id}/duplicates?min_score=0`)).json()
      t.same((pairs as DuplicateCandidates).candidates, [], `source ${index}: no duplicate pairs`)
    }
    t.same(await findStalePurchaseHistory(database.db, business), [], 'histories equal the ledger')

    const undo = await post(inject, business, `/merges/${body.merge.id}/undo`)
    t.equal(undo.statusCode, 200, 'undo: 200')
    const undone = undo.json<MergeUndone>()
    t.equal(undone.message, 'Merge undone')
    t.match(undone.merge, { id: body.merge.id, target_id: target, source_ids: [first, second] })
    t.type(undone.merge.undone_at, 'string')
    const restored = await Promise.all(ids.map((id) => snapshot(inject, business, id)))
    t.same(restored, before, 'every customer, note, sale and total as before the merge')
    t.same(
      await Promise.all(ids.map((id) => versionOf(inject, business, id))),
      versions.map((v) => v + 2),
      'versions +1 on merge and +1 on undo',
    )
    t.same(
      await Promise.all(ids.map((id) => rowCounts(database.db, business, id))),
      counts,
      'rows back where they were',
    )
    t.same(await findStalePurchaseHistory(database.db, business), [], 'histories equal the ledger')

    const again = await post(inject, business, `/merges/${body.merge.id}/undo`)
    t.equal(again.statusCode, 409, 'second undo: 409')
    t.same(
      await Promise.all(ids.map((id) => snapshot(inject, business, id))),
      before,
      'the second undo changed nothing',
    )
  },
)

t.test('sales after a merge: named to a source go back on undo, payer matches stay', async (t) => {
  const { inject, database } = await fileServer(t)
  const business = 1502
  const { target, first, second } = await family(inject, business, '12')
  const res = await post(inject, business, `/${target}/merge`, { source_ids: [first, second] })
  t.equal(res.statusCode, 200, 'merge: 200')
  const mergeId = res.json<CustomersMerged>().merge.id

  await send(t, inject, completion(business, '12-after-named', first, '40.00'), {
    status: 'processed',
    customer_id: target,
  })
  await send(t, inject, completion(business, '12-after-target', target, '5.00'), {
    status: 'processed',
    customer_id: target,
  })
  await send(
    t,
    inject,
    completion(business, '12-after-payer', null, '3.00', { phone: '0712000001' }),
    { status: 'processed', customer_id: target, matched_by: 'phone' },
  )
  const patch = await inject({
    method: 'PATCH',
    url: `/api/customers/${business}/${first}`,
    headers: authFor(business),
    payload: { is_active: true },
  })
  t.equal(patch.statusCode, 409, 'a merged source is not reactivated by PATCH')
  t.equal(
    (await get(inject, business, `/${first}`)).json<CustomerResponse>().customer.is_active,
    false,
  )

  const undo = await post(inject, business, `/merges/${mergeId}/undo`)
  t.equal(undo.statusCode, 200, 'undo: 200')
  const owner = async (saleId: string) => {
    const { rows } = await sql<{ customer_id: number }>`select customer_id from customer_sales
      where business_id = ${business} and sale_id = ${saleId}`.execute(database.db)
    return rows[0]?.customer_id
  }
  t.equal(await owner('12-after-named'), first, 'a sale that named the source goes back to it')
  t.equal(await owner('12-fp'), first, 'a payer sale of the source before the merge goes back')
  t.equal(await owner('12-sp'), second, 'the other source too')
  t.equal(await owner('12-after-target'), target, 'a sale that named the target stays')
  t.equal(await owner('12-after-payer'), target, 'a payer match made after the merge stays')
  t.same(await findStalePurchaseHistory(database.db, business), [], 'histories equal the ledger')
  // A refund naming the source applies to its own sale again.
  const refund = await postEvent(inject, {
    id: nextId(),
    type: 'sale.refunded',
    created_at: new Date().toISOString(),
    data: {
      sale_id: '12-after-named',
      business_id: business,
      customer_id: first,
      refund_amount: '1.00',
    },
  })
  t.equal(refund.statusCode, 200, 'refund naming the source after undo')
  t.match(refund.json(), { status: 'processed', customer_id: first })
})

t.test('refused merges are 4xx and change nothing', async (t) => {
  const { inject } = await fileServer(t)
  const business = 1503
  const other = 1504
  const target = (await createCustomer(inject, business, { name: 'Target' })).id
  const source = (await createCustomer(inject, business, { name: 'Source' })).id
  const inactive = (await createCustomer(inject, business, { name: 'Gone' })).id
  await inject({
    method: 'DELETE',
    url: `/api/customers/${business}/${inactive}`,
    headers: authFor(business),
  })
  const mergedAway = (await createCustomer(inject, business, { name: 'Merged away' })).id
  const keeper = (await createCustomer(inject, business, { name: 'Keeper' })).id
  const premerge = await post(inject, business, `/${keeper}/merge`, { source_ids: [mergedAway] })
  t.equal(premerge.statusCode, 200, 'setup merge')
  const foreign = (await createCustomer(inject, other, { name: 'Foreign' })).id
  const many = await Promise.all(
    Array.from({ length: 11 }, (_, i) => createCustomer(inject, business, { name: `Many ${i}` })),
  )
  const ids = [target, source, inactive, mergedAway, keeper, ...many.map((c) => c.id)]
  const state = async () =>
    Promise.all(ids.map(async (id) => (await get(inject, business, `/${id}`)).json()))
  const before = await state()

  const cases: { name: string; target: number; body: unknown; status: number }[] = [
    { name: 'none', target, body: { source_ids: [] }, status: 422 },
    { name: 'more than 10', target, body: { source_ids: many.map((c) => c.id) }, status: 422 },
    { name: 'the target itself', target, body: { source_ids: [target] }, status: 422 },
    { name: 'named twice', target, body: { source_ids: [source, source] }, status: 422 },
    { name: 'unknown', target, body: { source_ids: [source, 99999999] }, status: 422 },
    { name: 'inactive', target, body: { source_ids: [inactive] }, status: 422 },
    { name: 'merged', target, body: { source_ids: [mergedAway] }, status: 422 },
    { name: 'of another business', target, body: { source_ids: [foreign] }, status: 422 },
    { name: 'missing target', target: 99999998, body: { source_ids: [source] }, status: 404 },
    { name: 'inactive target', target: inactive, body: { source_ids: [source] }, status: 422 },
    { name: 'merged target', target: mergedAway, body: { source_ids: [source] }, status: 422 },
    { name: 'no body field', target, body: {}, status: 400 },
    { name: 'not ids', target, body: { source_ids: ['x'] }, status: 400 },
  ]
  for (const c of cases) {
    const res = await post(inject, business, `/${c.target}/merge`, c.body as object)
    t.equal(res.statusCode, c.status, `${c.name}: ${c.status}`)
    if (c.status === 422) {
      const error = res.json<{ error: string; details?: unknown[] }>()
      t.equal(error.error, 'Merge refused', `${c.name}: title`)
      t.ok((error.details ?? []).length > 0, `${c.name}: details`)
    }
  }
  t.same(await state(), before, 'nothing changed')

  t.equal((await post(inject, business, '/merges/99999999/undo')).statusCode, 404, 'unknown merge')
  const mergeId = premerge.json<CustomersMerged>().merge.id
  t.equal((await post(inject, other, `/merges/${mergeId}/undo`)).statusCode, 404, 'other business')
})

t.test(
  'favorite products: two merges into one target undone oldest first leave the list it had; a change by the user since is kept',
  async (t) => {
    const { inject } = await fileServer(t)
    const business = 1507
    const customer = async (name: string, favorites: number[]) => {
      const id = (await createCustomer(inject, business, { name })).id
      await setPreferences(inject, business, id, { favorite_products: favorites })
      return id
    }
    const favoritesOf = async (id: number) =>
      (await metricsOf(inject, business, id)).favorite_products
    const merge = async (target: number, source: number) => {
      const res = await post(inject, business, `/${target}/merge`, { source_ids: [source] })
      t.equal(res.statusCode, 200, `merge ${source} into ${target}: 200`)
      return res.json<CustomersMerged>().merge.id
    }
    const undo = async (mergeId: number) => {
      const res = await post(inject, business, `/merges/${mergeId}/undo`)
      t.equal(res.statusCode, 200, `undo ${mergeId}: 200`)
    }

    const target = await customer('Fav target', [12])
    const first = await customer('Fav first', [7])
    const second = await customer('Fav second', [7, 31])
    const older = await merge(target, first)
    const newer = await merge(target, second)
    t.same(await favoritesOf(target), [12, 7, 31], 'united: 7 from the first, 31 from the second')
    await undo(older)
    t.same(await favoritesOf(target), [12, 31], 'the older undone: what it added goes')
    await undo(newer)
    t.same(await favoritesOf(target), [12], 'both undone: the list the target had')

    const kept = await customer('Fav kept', [5])
    const source = await customer('Fav source', [7])
    const mergeId = await merge(kept, source)
    await setPreferences(inject, business, kept, { favorite_products: [5, 7, 12] })
    await undo(mergeId)
    t.same(await favoritesOf(kept), [5, 7, 12], "the user's list since the merge stays")
  },
)

t.test('an undo after 30 days is a 409', async (t) => {
  const { inject, database } = await fileServer(t)
  const business = 1505
  const target = (await createCustomer(inject, business, { name: 'Old target' })).id
  const source = (await createCustomer(inject, business, { name: 'Old source' })).id
  const res = await post(inject, business, `/${target}/merge`, { source_ids: [source] })
  t.equal(res.statusCode, 200)
  const mergeId = res.json<CustomersMerged>().merge.id
  await sql`update customer_merges set created_at = now() - interval '31 days'
    where business_id = ${business} and id = ${mergeId}`.execute(database.db)
  const undo = await post(inject, business, `/merges/${mergeId}/undo`)
  t.equal(undo.statusCode, 409, 'too old: 409')
  t.equal(
    (await get(inject, business, `/${source}`)).json<CustomerResponse>().customer.merged_into,
    target,
    'still merged',
  )
})

t.test('merge and undo honour Idempotency-Key', async (t) => {
  const { inject } = await fileServer(t)
  const business = 1506
  const target = (await createCustomer(inject, business, { name: 'Idem target' })).id
  const source = (await createCustomer(inject, business, { name: 'Idem source' })).id
  const key = { 'idempotency-key': `merge-${process.pid}` }
  const first = await post(inject, business, `/${target}/merge`, { source_ids: [source] }, key)
  t.equal(first.statusCode, 200, 'merge: 200')
  const replay = await post(inject, business, `/${target}/merge`, { source_ids: [source] }, key)
  t.equal(replay.statusCode, 200, 'replay: 200')
  t.equal(replay.headers['idempotent-replayed'], 'true', 'replayed')
  t.same(replay.json(), first.json(), 'the same answer')
  t.equal(await versionOf(inject, business, target), 2, 'merged once')
  const mergeId = first.json<CustomersMerged>().merge.id
  const undoKey = { 'idempotency-key': `undo-${process.pid}` }
  const undo = await post(inject, business, `/merges/${mergeId}/undo`, undefined, undoKey)
  t.equal(undo.statusCode, 200, 'undo: 200')
  const undoReplay = await post(inject, business, `/merges/${mergeId}/undo`, undefined, undoKey)
  t.equal(undoReplay.statusCode, 200, 'undo replay: 200, not a second undo')
  t.same(undoReplay.json(), undo.json())
  t.equal(await versionOf(inject, business, target), 3, 'undone once')
})
