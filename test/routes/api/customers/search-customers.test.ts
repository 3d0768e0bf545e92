import type { LightMyRequestResponse } from 'fastify'
import t from 'tap'
import type { ApiError } from '../../../../generated/schemas/ApiError.js'
import type { Customer } from '../../../../generated/schemas/Customer.js'
import type { SearchResults } from '../../../../generated/schemas/SearchResults.js'
import { authFor, fileServer, type TestServer } from '../../../helper.js'
import { createCustomer } from '../../../support/customers.js'

type Inject = TestServer['inject']
type Query = Record<string, string | number>

function searchUrl(businessId: number, query: Query): string {
  const search = Object.entries(query)
    .map(([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(String(value))}`)
    .join('&')
  return `/api/customers/${businessId}/search${search ? `?${search}` : ''}`
}

async function createNamed(inject: Inject, businessId: number, names: string[]) {
  const customers: Customer[] = []
  for (const name of names) customers.push(await createCustomer(inject, businessId, { name }))
  return customers
}

async function search(inject: Inject, businessId: number, query: Query) {
  return inject({ method: 'GET', url: searchUrl(businessId, query), headers: authFor(businessId) })
}

const detailPaths = (res: LightMyRequestResponse): string[] =>
  (res.json<ApiError>().details ?? []).map((detail) => detail.path)

const resultIds = (res: LightMyRequestResponse): number[] =>
  res.json<SearchResults>().results.map((customer) => customer.id)

t.test('shape, trimmed query echoed, case-insensitive name match', async (t) => {
  const { inject } = await fileServer(t)
  const businessId = 301
  const wanjiru = await createCustomer(inject, businessId, {
    name: 'Wanjiru Kamau',
    phone: '0712 345 678',
    email: 'wanjiru@example.co.ke',
  })
  await createCustomer(inject, businessId, { name: 'Otieno Odhiambo' })

  const res = await search(inject, businessId, { q: '  wanJIRU  ' })
  t.equal(res.statusCode, 200, 'status')
  const body = res.json<SearchResults>()
  t.same(Object.keys(body).sort(), ['count', 'query', 'results'], 'shape')
  t.equal(body.query, 'wanJIRU', 'query is the trimmed q')
  t.same(body.results, [wanjiru], 'the matching customer, as created')
  t.equal(body.count, 1, 'count')

  const none = await search(inject, businessId, { q: 'nobody-here' })
  t.equal(none.statusCode, 200, 'no match: status')
  t.same(none.json<SearchResults>(), { results: [], query: 'nobody-here', count: 0 }, 'no match')

  const slash = await inject({
    method: 'GET',
    url: `/api/customers/${businessId}/search/?q=wanjiru`,
    headers: authFor(businessId),
  })
  t.equal(slash.statusCode, 200, 'trailing slash: status')
  t.same(resultIds(slash), [wanjiru.id], 'trailing slash: found')

  const middle = await search(inject, businessId, { q: 'RU KAM' })
  t.equal(middle.statusCode, 200, 'inner substring: status')
  t.same(resultIds(middle), [wanjiru.id], 'inner substring across a space')
})

t.test('q and limit are validated', async (t) => {
  const { inject } = await fileServer(t)
  const businessId = 302
  await createNamed(inject, businessId, ['Anyone'])
  const cases: { name: string; query: Query; path: string }[] = [
    { name: 'q missing', query: {}, path: 'q' },
    { name: 'q missing, limit given', query: { limit: 5 }, path: 'q' },
    { name: 'q empty', query: { q: '' }, path: 'q' },
    { name: 'q blank (empty after trim)', query: { q: '   ' }, path: 'q' },
    { name: 'q of 101 characters', query: { q: 'a'.repeat(101) }, path: 'q' },
    { name: 'limit=0', query: { q: 'any', limit: 0 }, path: 'limit' },
    { name: 'limit=51', query: { q: 'any', limit: 51 }, path: 'limit' },
    { name: 'limit=abc', query: { q: 'any', limit: 'abc' }, path: 'limit' },
    { name: 'limit=-1', query: { q: 'any', limit: -1 }, path: 'limit' },
    { name: 'limit=2.5', query: { q: 'any', limit: 2.5 }, path: 'limit' },
    { name: 'unknown parameter', query: { q: 'any', sort: 'name' }, path: 'sort' },
  ]
  for (const c of cases) {
    const res = await search(inject, businessId, c.query)
    t.equal(res.statusCode, 400, `${c.name}: status`)
    t.equal(res.json<ApiError>().error, 'Validation failed', `${c.name}: error`)
    t.ok(detailPaths(res).includes(c.path), `${c.name}: details name ${c.path}`)
  }

  const longest = await search(inject, businessId, { q: 'a'.repeat(100) })
  t.equal(longest.statusCode, 200, 'q of 100 characters: status')
  t.equal(longest.json<SearchResults>().count, 0, 'q of 100 characters: no match')
  const padded = await search(inject, businessId, { q: `  ${'n'.repeat(100)}  ` })
  t.equal(padded.statusCode, 200, 'q of 100 characters plus spaces: status')
  const single = await search(inject, businessId, { q: 'y' })
  t.equal(single.statusCode, 200, 'q of 1 character: status')
  t.equal(single.json<SearchResults>().count, 1, 'q of 1 character: found')
})

t.test('limit: default 10, 1 to 50', async (t) => {
  const { inject } = await fileServer(t)
  const businessId = 303
  const names = Array.from({ length: 12 }, (_, i) => `Kamau ${String(i + 1).padStart(2, '0')}`)
  const customers = await createNamed(inject, businessId, names)
  const ids = customers.map((c) => c.id)

  const cases: { name: string; query: Query; expected: number[] }[] = [
    { name: 'default', query: { q: 'kamau' }, expected: ids.slice(0, 10) },
    { name: 'limit=1', query: { q: 'kamau', limit: 1 }, expected: ids.slice(0, 1) },
    { name: 'limit=3', query: { q: 'kamau', limit: 3 }, expected: ids.slice(0, 3) },
    { name: 'limit=50', query: { q: 'kamau', limit: 50 }, expected: ids },
  ]
  for (const c of cases) {
    const res = await search(inject, businessId, c.query)
    t.equal(res.statusCode, 200, `${c.name}: status`)
    // All are prefix matches, so the order is by name: Kamau 01, Kamau 02, ...
    t.same(resultIds(res), c.expected, `${c.name}: results`)
    t.equal(res.json<SearchResults>().count, c.expected.length, `${c.name}: count`)
  }
})

t.test('best matches first: exact, then prefix, then substring', async (t) => {
  const { inject } = await fileServer(t)
  const businessId = 304
  const [joanne, annabel, ann, anna, bob, ann2] = await createNamed(inject, businessId, [
    'Joanne',
    'Annabel',
    'ANN',
    'anna',
    'Bob',
    'Ann',
  ])
  if (!joanne || !annabel || !ann || !anna || !bob || !ann2) throw new Error('setup')

  const res = await search(inject, businessId, { q: 'ann' })
  t.equal(res.statusCode, 200, 'status')
  t.same(
    resultIds(res),
    [ann.id, ann2.id, anna.id, annabel.id, joanne.id],
    'exact (ties by id), then prefixes by name, then the substring match',
  )
  t.equal(res.json<SearchResults>().count, 5, 'count')

  const limited = await search(inject, businessId, { q: 'ann', limit: 2 })
  t.same(resultIds(limited), [ann.id, ann2.id], 'the limit keeps the best matches')

  // An exact e-mail match ranks first too.
  const byEmail = await createCustomer(inject, businessId, {
    name: 'Zed',
    email: 'joan@example.com',
  })
  const joan = await search(inject, businessId, { q: 'JOAN@EXAMPLE.COM' })
  t.equal(joan.statusCode, 200, 'exact email: status')
  t.same(resultIds(joan), [byEmail.id], 'exact email: found')
  const jo = await search(inject, businessId, { q: 'joan' })
  t.same(resultIds(jo), [joanne.id, byEmail.id], 'prefix of name and of email tie, by name')
})

t.test('% and _ match themselves', async (t) => {
  const { inject } = await fileServer(t)
  const businessId = 305
  const [juice, plain, underscore, axb, backslash] = await createNamed(inject, businessId, [
    '100% Juice',
    'Plain Shop',
    'a_b',
    'axb',
    'C:\\Shop',
  ])
  if (!juice || !plain || !underscore || !axb || !backslash) throw new Error('setup')

  const cases: { q: string; expected: number[] }[] = [
    { q: '%', expected: [juice.id] },
    { q: '0%', expected: [juice.id] },
    { q: '% j', expected: [juice.id] },
    { q: '_', expected: [underscore.id] },
    { q: 'a_b', expected: [underscore.id] },
    { q: 'a%b', expected: [] },
    { q: '\\', expected: [backslash.id] },
    { q: ':\\s', expected: [backslash.id] },
    { q: '\\%', expected: [] },
  ]
  for (const c of cases) {
    const res = await search(inject, businessId, { q: c.q })
    t.equal(res.statusCode, 200, `q=${c.q}: status`)
    t.same(resultIds(res), c.expected, `q=${c.q}: results`)
    t.equal(res.json<SearchResults>().query, c.q, `q=${c.q}: query echoed`)
  }
})

t.test('a phone number is found however it is written', async (t) => {
  const { inject } = await fileServer(t)
  const businessId = 306
  const target = await createCustomer(inject, businessId, {
    name: 'Phone Owner',
    phone: '0712 345 678',
  })
  t.equal(target.phone, '+254712345678', 'stored in E.164')
  // A different number that shares no searched fragment.
  await createCustomer(inject, businessId, { name: 'Other Phone', phone: '0722 000 111' })

  for (const q of [
    '0712345678',
    '712345678',
    '+254 712 345 678',
    '+254712345678',
    '254712345678',
    '254712',
    '0712',
    '345 678',
    '0712 345 678',
    '(0712) 345-678',
  ]) {
    const res = await search(inject, businessId, { q })
    t.equal(res.statusCode, 200, `q=${q}: status`)
    t.same(resultIds(res), [target.id], `q=${q}: found`)
    t.equal(res.json<SearchResults>().query, q, `q=${q}: query echoed`)
  }

  const miss = await search(inject, businessId, { q: '0799 999 999' })
  t.same(resultIds(miss), [], 'another number: not found')

  // Five digits or more are looked up by digit grams, fewer by trigrams: both find the same.
  for (const q of ['45678', '2345678', '4567', '678', '71234']) {
    t.same(resultIds(await search(inject, businessId, { q })), [target.id], `q=${q}: found`)
  }
})

t.test('a phone fragment must appear in one piece, not only gram by gram', async (t) => {
  const { inject } = await fileServer(t)
  const businessId = 311
  // Its five-digit grams include 00000, so seven zeros share every gram yet are not in it.
  const zeros = await createCustomer(inject, businessId, { name: 'Zeros', phone: '0700 000 111' })
  const cases: { q: string; expected: number[] }[] = [
    { q: '00000', expected: [zeros.id] },
    { q: '000001', expected: [zeros.id] },
    { q: '0000000', expected: [] },
    { q: '0000111', expected: [zeros.id] },
    { q: '0001110', expected: [] },
    { q: '00000111', expected: [zeros.id] },
  ]
  for (const c of cases) {
    t.same(resultIds(await search(inject, businessId, { q: c.q })), c.expected, `q=${c.q}`)
  }
})

t.test('an e-mail fragment finds the customer', async (t) => {
  const { inject } = await fileServer(t)
  const businessId = 307
  const customer = await createCustomer(inject, businessId, {
    name: 'Achieng',
    email: 'achieng.otieno@Example.co.ke',
  })
  await createCustomer(inject, businessId, { name: 'No Email' })
  for (const q of ['otieno@example', 'EXAMPLE.CO', '.otieno', 'achieng.otieno@example.co.ke']) {
    const res = await search(inject, businessId, { q })
    t.equal(res.statusCode, 200, `q=${q}: status`)
    t.same(resultIds(res), [customer.id], `q=${q}: found`)
  }
})

t.test('only active customers are found', async (t) => {
  const { inject } = await fileServer(t)
  const businessId = 308
  const [kept, gone] = await createNamed(inject, businessId, ['Mwangi Kept', 'Mwangi Gone'])
  if (!kept || !gone) throw new Error('setup')
  const removed = await inject({
    method: 'DELETE',
    url: `/api/customers/${businessId}/${gone.id}`,
    headers: authFor(businessId),
  })
  t.equal(removed.statusCode, 200, 'delete: status')

  const res = await search(inject, businessId, { q: 'mwangi' })
  t.equal(res.statusCode, 200, 'status')
  t.same(resultIds(res), [kept.id], 'the soft-deleted customer is left out')
  t.equal(res.json<SearchResults>().count, 1, 'count')

  const exact = await search(inject, businessId, { q: 'Mwangi Gone' })
  t.same(resultIds(exact), [], 'not even on an exact match')
})

t.test('results are scoped to the business', async (t) => {
  const { inject } = await fileServer(t)
  const [x, y] = [309, 310]
  const ofX = await createCustomer(inject, x, {
    name: 'Shared Name',
    phone: '0733 111 222',
    email: 'shared@example.com',
  })
  const ofY = await createCustomer(inject, y, { name: 'Shared Name Too' })

  for (const q of ['shared', '0733111222', 'shared@example.com']) {
    const inY = await search(inject, y, { q })
    t.equal(inY.statusCode, 200, `q=${q} in Y: status`)
    t.notOk(resultIds(inY).includes(ofX.id), `q=${q}: X's customer never appears in Y`)
  }
  t.same(resultIds(await search(inject, y, { q: 'shared' })), [ofY.id], 'Y sees its own')
  t.same(resultIds(await search(inject, x, { q: 'shared' })), [ofX.id], 'X sees its own')
})
