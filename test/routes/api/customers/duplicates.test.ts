import { sql } from 'kysely'
import t, { type Test } from 'tap'
import type { CustomerCreated } from '../../../../generated/schemas/CustomerCreated.js'
import type { DuplicateCandidate } from '../../../../generated/schemas/DuplicateCandidate.js'
import type { DuplicateCandidates } from '../../../../generated/schemas/DuplicateCandidates.js'
import { authFor, fileServer, type TestServer } from '../../../helper.js'
import { assertValidationFailed } from '../../../support/assertions.js'
import { twoInstances } from '../../../support/instances.js'
import { rebuildDuplicates } from '../../../../db/customer-duplicates.js'

type Inject = TestServer['inject']

async function create(inject: Inject, business: number, payload: Record<string, unknown>) {
  const res = await inject({
    method: 'POST',
    url: `/api/customers/${business}`,
    headers: authFor(business),
    payload,
  })
  if (res.statusCode !== 201) throw new Error(`create failed: ${res.statusCode} ${res.body}`)
  return res.json<CustomerCreated>()
}

async function patch(inject: Inject, business: number, id: number, payload: object) {
  const res = await inject({
    method: 'PATCH',
    url: `/api/customers/${business}/${id}`,
    headers: authFor(business),
    payload,
  })
  if (res.statusCode !== 200) throw new Error(`update failed: ${res.statusCode} ${res.body}`)
}

async function remove(inject: Inject, business: number, id: number) {
  const res = await inject({
    method: 'DELETE',
    url: `/api/customers/${business}/${id}`,
    headers: authFor(business),
  })
  if (res.statusCode !== 200) throw new Error(`delete failed: ${res.statusCode} ${res.body}`)
}

/** One page; `path` is '' for the business's list or '/<id>' for a customer's. */
async function page(
  t: Test,
  inject: Inject,
  business: number,
  query: Record<string, string | number> = {},
  path = '',
): Promise<DuplicateCandidates> {
  const res = await inject({
    method: 'GET',
    url: `/api/customers/${business}${path}/duplicates`,
    headers: authFor(business),
    query: Object.fromEntries(Object.entries(query).map(([k, v]) => [k, String(v)])),
  })
  t.equal(res.statusCode, 200, `GET ${path || 'business'} duplicates ${JSON.stringify(query)}`)
  return res.json<DuplicateCandidates>()
}

/** Every pair (min_score 0 unless given), following `next` to the end. */
async function allPairs(
  t: Test,
  inject: Inject,
  business: number,
  query: Record<string, string | number> = {},
  path = '',
): Promise<DuplicateCandidate[]> {
  const pairs: DuplicateCandidate[] = []
  let after: string | null | undefined
  for (let pages = 0; pages < 1000; pages++) {
    const body = await page(
      t,
      inject,
      business,
      { min_score: 0, ...query, ...(after ? { after } : {}) },
      path,
    )
    pairs.push(...body.candidates)
    after = body.next
    if (after === null) return pairs
  }
  throw new Error('paging did not end')
}

const key = (ids: readonly number[]) => ids.join('-')
const pairOf = (a: number, b: number) => key(a < b ? [a, b] : [b, a])
const byPair = (pairs: DuplicateCandidate[]) =>
  new Map(pairs.map((pair) => [key(pair.customer_ids), pair]))

/** Same phone or e-mail scores at least 0.9; a similar name alone never more than 0.6. */
function assertBounds(t: Test, pairs: DuplicateCandidate[]) {
  for (const pair of pairs) {
    const label = `${key(pair.customer_ids)} ${pair.reasons.join('+')} ${pair.score}`
    const [low = 0, high = 0] = pair.customer_ids
    t.ok(low < high, `${label}: lower id first`)
    if (pair.reasons.includes('same_phone') || pair.reasons.includes('same_email')) {
      t.ok(pair.score >= 0.9 && pair.score <= 1, `${label}: at least 0.9`)
    } else {
      t.same(pair.reasons, ['similar_name'], `${label}: only a similar name`)
      t.ok(pair.score > 0 && pair.score <= 0.6, `${label}: at most 0.6`)
    }
  }
}

t.test('every reason, its score, and the create answer', async (t) => {
  const { inject } = await fileServer(t)
  const business = 401
  const a = await create(inject, business, {
    name: 'Wanjiru Kamau',
    phone: '0712 345 678',
    email: 'wanjiru@example.co.ke',
  })
  t.same(a.possible_duplicates, [], 'the first customer duplicates nobody')
  const b = await create(inject, business, { name: 'Otieno Ochieng', phone: '+254712345678' })
  t.same(
    b.possible_duplicates,
    [{ id: a.customer.id, score: 0.95, reasons: ['same_phone'] }],
    'same phone in another format: 0.95',
  )
  const c = await create(inject, business, {
    name: 'Peter Njoroge',
    email: 'WANJIRU@Example.CO.KE',
  })
  t.same(
    c.possible_duplicates,
    [{ id: a.customer.id, score: 0.9, reasons: ['same_email'] }],
    'same e-mail in another case: 0.90',
  )
  const d = await create(inject, business, {
    name: 'Wanjiru  Kamau',
    phone: '254 712 345 678',
    email: 'Wanjiru@example.co.ke',
  })
  t.same(
    d.possible_duplicates,
    [
      { id: a.customer.id, score: 1, reasons: ['same_phone', 'same_email', 'similar_name'] },
      { id: b.customer.id, score: 0.95, reasons: ['same_phone'] },
      { id: c.customer.id, score: 0.9, reasons: ['same_email'] },
    ],
    'phone, e-mail and name: 1.00; then the others, best first',
  )
  // The same subscriber number with another country's prefix: names are compared.
  const e = await create(inject, business, { name: 'Wanjiru Kamaa', phone: '+255 712 345 678' })
  const nameOnly = e.possible_duplicates
  t.same(
    nameOnly.map((p) => p.id).sort((x, y) => x - y),
    [a.customer.id, d.customer.id],
    'a similar name among those sharing the last 7 digits',
  )
  for (const p of nameOnly) {
    t.same(p.reasons, ['similar_name'], 'reason: similar_name only')
    t.ok(p.score >= 0.45 && p.score <= 0.6, `similar name alone scores ${p.score}, at most 0.6`)
  }
  const unrelated = await create(inject, business, { name: 'Wanjiru Kamau' })
  t.same(unrelated.possible_duplicates, [], 'a name alone, with nothing shared, is not looked at')

  const pairs = await allPairs(t, inject, business)
  assertBounds(t, pairs)
  const found = byPair(pairs)
  const [ai, bi, ci, di, ei] = [a, b, c, d, e].map((x) => x.customer.id) as number[] as [
    number,
    number,
    number,
    number,
    number,
  ]
  t.same(
    [...found.keys()].sort(),
    [
      pairOf(ai, bi),
      pairOf(ai, ci),
      pairOf(ai, di),
      pairOf(bi, di),
      pairOf(ci, di),
      pairOf(ai, ei),
      pairOf(di, ei),
    ].sort(),
    'the business list holds exactly these pairs',
  )
  const scores = pairs.map((p) => p.score)
  t.same(
    scores,
    [...scores].sort((x, y) => y - x),
    'best first',
  )
  const defaults = await page(t, inject, business)
  t.ok(
    defaults.candidates.every((p) => p.score >= 0.5),
    'min_score defaults to 0.5',
  )
  const high = await page(t, inject, business, { min_score: 0.95 })
  t.same(
    high.candidates.map((p) => key(p.customer_ids)),
    pairs.filter((p) => p.score >= 0.95).map((p) => key(p.customer_ids)),
    'min_score=0.95 keeps only those pairs, in order',
  )
  const ofD = await allPairs(t, inject, business, {}, `/${di}`)
  t.same(
    ofD.map((p) => key(p.customer_ids)),
    pairs.filter((p) => p.customer_ids.includes(di)).map((p) => key(p.customer_ids)),
    "a customer's list: the business's pairs that include it, in the same order",
  )
  const ofUnrelated = await page(t, inject, business, {}, `/${unrelated.customer.id}`)
  t.same(ofUnrelated, { candidates: [], next: null }, 'a customer with no pairs: empty')
})

t.test('writes move pairs: deactivation, reactivation, phone, e-mail and name', async (t) => {
  const { inject } = await fileServer(t)
  const business = 402
  const a = (await create(inject, business, { name: 'Mary Akinyi', phone: '0722 100 200' }))
    .customer.id
  const b = (
    await create(inject, business, {
      name: 'Mary Akinyi',
      phone: '+254722100200',
      email: 'mary@example.com',
    })
  ).customer.id
  const c = (await create(inject, business, { name: 'John Kariuki', email: 'MARY@example.com' }))
    .customer.id
  const pairsNow = async () =>
    [...byPair(await allPairs(t, inject, business)).values()].map(
      (p) => `${key(p.customer_ids)}:${p.reasons.join('+')}`,
    )
  t.same(
    (await pairsNow()).sort(),
    [`${pairOf(a, b)}:same_phone+similar_name`, `${pairOf(b, c)}:same_email`].sort(),
    'start',
  )

  await remove(inject, business, b)
  t.same(await pairsNow(), [], 'a deactivated customer leaves every pair')
  t.same(
    await page(t, inject, business, { min_score: 0 }, `/${b}`),
    { candidates: [], next: null },
    'an inactive customer has none',
  )
  await patch(inject, business, b, { is_active: true })
  t.equal((await pairsNow()).length, 2, 'reactivation brings its pairs back')

  await patch(inject, business, b, { phone: '0733 999 888' })
  t.same(await pairsNow(), [`${pairOf(b, c)}:same_email`], 'a new phone leaves the old pairs')
  await patch(inject, business, a, { phone: '0733 999 888' })
  t.same(
    (await pairsNow()).sort(),
    [`${pairOf(a, b)}:same_phone+similar_name`, `${pairOf(b, c)}:same_email`].sort(),
    'and the phone brings the other one',
  )
  await patch(inject, business, c, { email: null })
  t.same(await pairsNow(), [`${pairOf(a, b)}:same_phone+similar_name`], 'e-mail removed')
  await patch(inject, business, b, { name: 'Somebody Else Entirely' })
  t.same(await pairsNow(), [`${pairOf(a, b)}:same_phone`], 'a new name: no longer similar')
  await patch(inject, business, a, { is_active: false })
  t.same(await pairsNow(), [], 'deactivation by PATCH')
})

t.test('paging never repeats or skips a pair', async (t) => {
  const { inject } = await fileServer(t)
  const business = 403
  // One phone shared by 7 (21 pairs, with ties), an e-mail by 4, names that differ a little.
  for (let i = 0; i < 7; i++) {
    await create(inject, business, { name: `Kevin Otieno ${i}`, phone: '0711 222 333' })
  }
  for (let i = 0; i < 4; i++) {
    await create(inject, business, {
      name: i % 2 ? 'Grace Wambui' : `Faith Njeri ${i}`,
      email: `Shared@Example.com`,
    })
  }
  const full = (await page(t, inject, business, { min_score: 0, limit: 100 })).candidates
  t.equal(full.length, 21 + 6, 'all pairs on one page')
  t.equal(new Set(full.map((p) => key(p.customer_ids))).size, full.length, 'no pair twice')
  for (const limit of [1, 2, 3, 5, 7]) {
    const paged = await allPairs(t, inject, business, { limit })
    t.same(paged, full, `limit=${limit}: the same pairs in the same order`)
  }
  const someone = full[0]?.customer_ids[0] ?? 0
  const ofOne = await allPairs(t, inject, business, { limit: 100 }, `/${someone}`)
  for (const limit of [1, 4]) {
    t.same(
      await allPairs(t, inject, business, { limit }, `/${someone}`),
      ofOne,
      `a customer's list, limit=${limit}`,
    )
  }
})

t.test('cursors: altered, or of another business, list or min_score, are a 400', async (t) => {
  const { inject } = await fileServer(t)
  const [business, other] = [404, 405]
  const ids: number[] = []
  for (const b of [business, other]) {
    for (let i = 0; i < 3; i++) {
      ids.push((await create(inject, b, { name: `Brian ${i}`, phone: '0700 000 404' })).customer.id)
    }
  }
  const first = ids[0] ?? 0
  const businessNext = (await page(t, inject, business, { limit: 1 })).next ?? ''
  const customerNext = (await page(t, inject, business, { limit: 1 }, `/${first}`)).next ?? ''
  const otherNext = (await page(t, inject, other, { limit: 1 })).next ?? ''
  t.ok(businessNext && customerNext && otherNext, 'cursors to try')
  const listNext =
    (
      await inject({
        method: 'GET',
        url: `/api/customers/${business}?limit=1`,
        headers: authFor(business),
      })
    ).json<{ next_after: string }>().next_after ?? ''
  const flipped = (text: string) =>
    text.slice(0, 10) + (text[10] === 'A' ? 'B' : 'A') + text.slice(11)
  const cases: { name: string; path: string; query: Record<string, string> }[] = [
    { name: 'altered', path: '', query: { after: flipped(businessNext) } },
    { name: 'truncated', path: '', query: { after: businessNext.slice(0, -2) } },
    { name: 'another business', path: '', query: { after: otherNext } },
    { name: "a customer's cursor on the business list", path: '', query: { after: customerNext } },
    {
      name: "the business's cursor on a customer's list",
      path: `/${first}`,
      query: { after: businessNext },
    },
    {
      name: "a customer's cursor on another customer's list",
      path: `/${ids[1]}`,
      query: { after: customerNext },
    },
    { name: 'another min_score', path: '', query: { after: businessNext, min_score: '0.6' } },
    { name: "the customer list's cursor", path: '', query: { after: listNext } },
    { name: 'not base64url', path: '', query: { after: 'a+b' } },
    { name: 'not a cursor', path: '', query: { after: 'abc' } },
  ]
  for (const c of cases) {
    const res = await inject({
      method: 'GET',
      url: `/api/customers/${business}${c.path}/duplicates`,
      headers: authFor(business, other),
      query: { limit: '1', ...c.query },
    })
    assertValidationFailed(t, res, 'after', c.name)
  }
})

t.test('validation, tenancy and unknown customers', async (t) => {
  const { inject } = await fileServer(t)
  const [business, stranger] = [406, 407]
  const mine = (await create(inject, business, { name: 'Mine', phone: '0700 406 406' })).customer.id
  await create(inject, business, { name: 'Mine Too', phone: '0700 406 406' })
  await create(inject, stranger, { name: 'Mine', phone: '0700 406 406' })
  const invalid: { name: string; query: Record<string, string>; path: string }[] = [
    { name: 'limit=0', query: { limit: '0' }, path: 'limit' },
    { name: 'limit=101', query: { limit: '101' }, path: 'limit' },
    { name: 'limit=abc', query: { limit: 'abc' }, path: 'limit' },
    { name: 'min_score=-0.1', query: { min_score: '-0.1' }, path: 'min_score' },
    { name: 'min_score=1.1', query: { min_score: '1.1' }, path: 'min_score' },
    { name: 'min_score=x', query: { min_score: 'x' }, path: 'min_score' },
    { name: 'after empty', query: { after: '' }, path: 'after' },
    { name: 'after=!!', query: { after: '!!' }, path: 'after' },
  ]
  for (const path of ['', `/${mine}`]) {
    for (const c of invalid) {
      const res = await inject({
        method: 'GET',
        url: `/api/customers/${business}${path}/duplicates`,
        headers: authFor(business),
        query: c.query,
      })
      assertValidationFailed(t, res, c.path, `${path || 'business'}: ${c.name}`)
    }
    const forbidden = await inject({
      method: 'GET',
      url: `/api/customers/${business}${path}/duplicates`,
      headers: authFor(stranger),
    })
    t.equal(forbidden.statusCode, 403, `${path || 'business'}: another business's token: 403`)
    const anonymous = await inject({
      method: 'GET',
      url: `/api/customers/${business}${path}/duplicates`,
    })
    t.equal(anonymous.statusCode, 401, `${path || 'business'}: no token: 401`)
  }
  const pairs = await allPairs(t, inject, business)
  t.equal(pairs.length, 1, 'the same phone in another business pairs nobody here')
  t.equal((await allPairs(t, inject, stranger)).length, 0, 'nor there')
  for (const id of [
    999_999_999,
    (await create(inject, stranger, { name: 'Theirs' })).customer.id,
  ]) {
    const res = await inject({
      method: 'GET',
      url: `/api/customers/${business}/${id}/duplicates`,
      headers: authFor(business),
    })
    t.equal(res.statusCode, 404, `customer ${id}: 404`)
    t.equal(res.json<{ error: string }>().error, 'Customer not found', `customer ${id}: body`)
  }
})

t.test('concurrent creates with one phone, through two instances, make every pair', async (t) => {
  const { first, second, database } = await twoInstances(t)
  const business = 408
  const created = await Promise.all(
    Array.from({ length: 10 }, (_, i) =>
      create(i % 2 ? second.inject : first.inject, business, {
        name: `Concurrent ${i}`,
        phone: `0799 ${i % 2 ? '000 408' : '000408'}`,
      }),
    ),
  )
  const ids = created.map((c) => c.customer.id).sort((x, y) => x - y)
  const pairs = await allPairs(t, first.inject, business, { limit: 100 })
  t.equal(pairs.length, 45, 'all 45 pairs of 10 customers')
  const expected = ids.flatMap((a, i) => ids.slice(i + 1).map((b) => pairOf(a, b)))
  t.same([...byPair(pairs).keys()].sort(), expected.sort(), 'each pair once')
  const { rows } = await sql<{ n: string }>`select count(*)::text as n from customer_duplicates
    where business_id = ${business}`.execute(database.db)
  t.equal(rows[0]?.n, '45', 'stored once each')
})

t.test("the set-based rebuild (the seed's) gives the pairs the writes kept", async (t) => {
  const { database } = await fileServer(t)
  const { db } = database
  const stored = async (business: number) =>
    (
      await sql<{ pair: string }>`select low_id || '-' || high_id || ':' || score || ':'
          || array_to_string(reasons, '+') as pair
        from customer_duplicates where business_id = ${business} order by low_id, high_id`.execute(
        db,
      )
    ).rows.map((row) => row.pair)
  for (const business of [401, 402, 403, 404, 406, 408]) {
    const kept = await stored(business)
    const count = await rebuildDuplicates(db, business)
    t.equal(count, kept.length, `business ${business}: as many pairs`)
    t.same(await stored(business), kept, `business ${business}: the same pairs, scores and reasons`)
  }
})
