/**
 * Text hygiene over HTTP (lib/text.ts, applied by plugins/input-normalisation.ts): NFC for every
 * text, zero-width and bidi controls removed from names and search queries, bidi controls and
 * spacers removed from free text; what is stored is checked in the database, not only the answer.
 */
import type { LightMyRequestResponse } from 'fastify'
import t from 'tap'
import type { Customer } from '../../../../generated/schemas/Customer.js'
import type { NoteCreated } from '../../../../generated/schemas/NoteCreated.js'
import type { SearchResults } from '../../../../generated/schemas/SearchResults.js'
import { authFor, build, type TestServer } from '../../../helper.js'
import { assertValidationFailed } from '../../../support/assertions.js'
import { signedEvent } from '../../../sales-feed.js'
import { createCustomer } from '../../../support/customers.js'

type Inject = TestServer['inject']
type Db = TestServer['database']['db']

const NFC_JOSE = 'Jos\u00e9 Mwangi'
const NFD_JOSE = 'Jose\u0301 Mwangi'

async function search(inject: Inject, businessId: number, q: string) {
  return inject({
    method: 'GET',
    url: `/api/customers/${businessId}/search?q=${encodeURIComponent(q)}`,
    headers: authFor(businessId),
  })
}

const resultIds = (res: LightMyRequestResponse): number[] =>
  res.json<SearchResults>().results.map((customer) => customer.id)

async function storedName(db: Db, businessId: number, id: number): Promise<string> {
  const row = await db
    .selectFrom('customers')
    .select('name')
    .where('business_id', '=', businessId)
    .where('id', '=', id)
    .executeTakeFirstOrThrow()
  return row.name
}

async function customerCount(db: Db, businessId: number): Promise<number> {
  const row = await db
    .selectFrom('customers')
    .select((eb) => eb.fn.countAll<number>().as('count'))
    .where('business_id', '=', businessId)
    .executeTakeFirstOrThrow()
  return Number(row.count)
}

/** Code points, so a test failure shows what is invisible. */
const escaped = (text: string): string =>
  [...text]
    .map((c) => (c.codePointAt(0)! < 0x7f ? c : `U+${c.codePointAt(0)!.toString(16)}`))
    .join('')

t.test('NFD and NFC find each other, and names are stored in NFC', async (t) => {
  const { inject, database } = await build(t)
  const businessId = 901
  const composed = await createCustomer(inject, businessId, { name: NFC_JOSE })
  const decomposed = await createCustomer(inject, businessId, { name: `${NFD_JOSE} Jr` })
  t.equal(decomposed.name, `${NFC_JOSE} Jr`, 'an NFD name is answered in NFC')
  t.equal(
    escaped(await storedName(database.db, businessId, decomposed.id)),
    escaped(`${NFC_JOSE} Jr`),
    'an NFD name is stored in NFC',
  )
  t.equal(
    escaped(await storedName(database.db, businessId, composed.id)),
    escaped(NFC_JOSE),
    'an NFC name is stored as sent',
  )

  const byNfd = await search(inject, businessId, 'jose\u0301')
  t.equal(byNfd.statusCode, 200, 'NFD query: status')
  t.same(resultIds(byNfd).sort(), [composed.id, decomposed.id].sort(), 'NFD query finds both')
  t.equal(byNfd.json<SearchResults>().query, 'jos\u00e9', 'the query is echoed in NFC')

  const byNfc = await search(inject, businessId, 'JOS\u00c9 MWANGI JR')
  t.equal(byNfc.statusCode, 200, 'NFC query: status')
  t.same(resultIds(byNfc), [decomposed.id], 'NFC query finds the customer created in NFD')

  const exact = await search(inject, businessId, NFD_JOSE)
  t.same(resultIds(exact)[0], composed.id, 'an NFD query equal to an NFC name ranks it first')
})

t.test('zero-width characters are removed from names and from queries', async (t) => {
  const { inject, database } = await build(t)
  const businessId = 902
  const john = await createCustomer(inject, businessId, { name: 'Jo\u200Bhn Kariuki' })
  t.equal(john.name, 'John Kariuki', 'answered without U+200B')
  t.equal(await storedName(database.db, businessId, john.id), 'John Kariuki', 'stored without it')

  const invisibles = ['\u200B', '\u200C', '\u200D', '\u2060', '\uFEFF', '\u180E']
  const stored: [string, number][] = []
  for (const [index, invisible] of invisibles.entries()) {
    const name = `Ak${invisible}inyi ${index}`
    const customer = await createCustomer(inject, businessId, { name })
    stored.push([escaped(invisible), customer.id])
  }
  for (const [invisible, id] of stored) {
    t.equal(
      await storedName(database.db, businessId, id),
      `Akinyi ${stored.findIndex(([, other]) => other === id)}`,
      `${invisible} is removed from the stored name`,
    )
  }

  const plain = await search(inject, businessId, 'John')
  t.equal(plain.statusCode, 200, 'q=John: status')
  t.same(resultIds(plain), [john.id], '"John" finds the name sent as "Jo\\u200Bhn"')

  const hidden = await search(inject, businessId, 'Jo\u200Bhn')
  t.equal(hidden.statusCode, 200, 'q with U+200B: status')
  t.same(resultIds(hidden), [john.id], 'a query with U+200B finds John')
  t.equal(hidden.json<SearchResults>().query, 'John', 'the query is echoed clean')

  const joined = await search(inject, businessId, '\u2060J\u200Do\uFEFFh\u200Cn\u180E')
  t.same(resultIds(joined), [john.id], 'every zero-width character is removed from the query')

  const onlyInvisible = await search(inject, businessId, '\u200B\u200D')
  assertValidationFailed(t, onlyInvisible, 'q', 'a query of only zero-width characters')
})

t.test('a name of only invisible characters is a 400 naming name; nothing stored', async (t) => {
  const { inject, database } = await build(t)
  const businessId = 903
  const existing = await createCustomer(inject, businessId, { name: 'Wanjiru' })
  const before = await customerCount(database.db, businessId)
  const cases: [string, string][] = [
    ['U+200B', '\u200B'],
    ['U+200B three times, spaced', ' \u200B \u200B\u200B '],
    ['joiners', '\u200C\u200D'],
    ['word joiner and BOM', '\u2060\uFEFF'],
    ['bidi controls', '\u202E\u202D\u2066\u2069\u200E\u200F\u061C'],
    ['Mongolian vowel separator', '\u180E'],
  ]
  for (const [label, name] of cases) {
    const created = await inject({
      method: 'POST',
      url: `/api/customers/${businessId}`,
      headers: authFor(businessId),
      payload: { name, phone: '0712 345 678' },
    })
    assertValidationFailed(t, created, 'name', `create, ${label}`)

    const patched = await inject({
      method: 'PATCH',
      url: `/api/customers/${businessId}/${existing.id}`,
      headers: authFor(businessId),
      payload: { name },
    })
    assertValidationFailed(t, patched, 'name', `PATCH, ${label}`)
  }
  t.equal(await customerCount(database.db, businessId), before, 'no customer row was added')
  t.equal(await storedName(database.db, businessId, existing.id), 'Wanjiru', 'name unchanged')
})

t.test('bidi controls are removed from names; PATCH cleans the same way', async (t) => {
  const { inject, database } = await build(t)
  const businessId = 904
  const spoof = await createCustomer(inject, businessId, { name: 'Otieno \u202Egnp.exe' })
  t.equal(spoof.name, 'Otieno gnp.exe', 'RTL override removed from the answer')
  t.equal(
    await storedName(database.db, businessId, spoof.id),
    'Otieno gnp.exe',
    'RTL override removed from the stored name',
  )
  const isolated = await createCustomer(inject, businessId, {
    name: '\u2067\u0645\u062d\u0645\u062f\u2069 \u200FAli\u200E',
  })
  t.equal(
    escaped(await storedName(database.db, businessId, isolated.id)),
    escaped('\u0645\u062d\u0645\u062f Ali'),
    'isolates and marks removed, Arabic letters kept',
  )

  const patched = await inject({
    method: 'PATCH',
    url: `/api/customers/${businessId}/${spoof.id}`,
    headers: authFor(businessId),
    payload: { name: 'Jose\u0301\u200B \u202BOchieng' },
  })
  t.equal(patched.statusCode, 200, 'PATCH: status')
  t.equal(
    escaped(await storedName(database.db, businessId, spoof.id)),
    escaped('Jos\u00e9 Ochieng'),
    'PATCH stores NFC without zero-width or bidi characters',
  )
})

t.test('free text: NFC, bidi controls and spacers removed, joiners kept', async (t) => {
  const { inject, database } = await build(t)
  const businessId = 905
  const family = '\u{1F468}\u200D\u{1F469}\u200D\u{1F467}'
  const customer = await createCustomer(inject, businessId, {
    name: 'Muthoni',
    address: '\u202EMoi Avenue\u202C, Nai\u200Brobi\u00a0',
  })
  t.equal(customer.address, 'Moi Avenue, Nairobi', 'address: bidi and U+200B removed')

  const note = await inject({
    method: 'POST',
    url: `/api/customers/${businessId}/${customer.id}/notes`,
    headers: authFor(businessId),
    payload: { content: `Caf\u0065\u0301 order \u202E for the ${family} family\uFEFF` },
  })
  t.equal(note.statusCode, 201, 'note: status')
  const noteId = note.json<NoteCreated>().note.id
  const noteRow = await database.db
    .selectFrom('customer_notes')
    .select('content')
    .where('business_id', '=', businessId)
    .where('id', '=', noteId)
    .executeTakeFirstOrThrow()
  t.equal(
    escaped(noteRow.content),
    escaped(`Caf\u00e9 order  for the ${family} family`),
    'note stored in NFC, RTL override and BOM removed, the emoji ZWJ sequence intact',
  )

  const invisibleNote = await inject({
    method: 'POST',
    url: `/api/customers/${businessId}/${customer.id}/notes`,
    headers: authFor(businessId),
    payload: { content: '\u200B\u202E' },
  })
  assertValidationFailed(t, invisibleNote, 'content', 'a note of only invisible characters')
  const notes = await database.db
    .selectFrom('customer_notes')
    .select('id')
    .where('business_id', '=', businessId)
    .execute()
  t.equal(notes.length, 1, 'the invisible note was not stored')

  const prefs = await inject({
    method: 'PATCH',
    url: `/api/customers/${businessId}/${customer.id}/preferences`,
    headers: authFor(businessId),
    payload: { best_contact_time: '\u2066Mornings\u2069, before 10' },
  })
  t.equal(prefs.statusCode, 200, 'preferences: status')
  const prefRow = await database.db
    .selectFrom('customer_preferences')
    .select('best_contact_time')
    .where('business_id', '=', businessId)
    .where('customer_id', '=', customer.id)
    .executeTakeFirstOrThrow()
  t.equal(prefRow.best_contact_time, 'Mornings, before 10', 'best_contact_time: isolates removed')

  // A clearable field that is empty once cleaned is cleared, as null would (the Blank schema).
  const withName = await inject({
    method: 'PATCH',
    url: `/api/customers/${businessId}/${customer.id}`,
    headers: authFor(businessId),
    payload: { name: 'Muthoni K', address: '\u202E\u200B' },
  })
  t.equal(withName.statusCode, 200, 'an address of only invisibles: status')
  t.equal(
    withName.json<{ customer: Customer }>().customer.address,
    null,
    'an address of only invisibles clears it',
  )
})

t.test('lone surrogates are refused by name, in a raw JSON body', async (t) => {
  const { inject, database } = await build(t)
  const businessId = 906
  const before = await customerCount(database.db, businessId)
  for (const raw of ['{"name":"\\ud800"}', '{"name":"Jo\\udfffhn"}', '{"name":"A\\ud83d"}']) {
    const res = await inject({
      method: 'POST',
      url: `/api/customers/${businessId}`,
      headers: { ...authFor(businessId), 'content-type': 'application/json' },
      payload: raw,
    })
    assertValidationFailed(t, res, 'name', raw)
  }
  const paired = await inject({
    method: 'POST',
    url: `/api/customers/${businessId}`,
    headers: { ...authFor(businessId), 'content-type': 'application/json' },
    payload: '{"name":"Smile \\ud83d\\ude00"}',
  })
  t.equal(paired.statusCode, 201, 'a surrogate pair (an emoji) is accepted')
  t.equal(paired.json<{ customer: Customer }>().customer.name, 'Smile \u{1F600}', 'as the emoji')
  t.equal(await customerCount(database.db, businessId), before + 1, 'only the emoji name stored')

  const query = await search(inject, businessId, 'x')
  t.equal(query.statusCode, 200, 'sanity: search answers')
  const loneQuery = await inject({
    method: 'GET',
    url: `/api/customers/${businessId}/search?q=%ED%A0%80`,
    headers: authFor(businessId),
  })
  t.ok(loneQuery.statusCode < 500, `a query of an encoded surrogate gets ${loneQuery.statusCode}`)
})

t.test('webhook: nested strings are put in NFC', async (t) => {
  const { inject, database } = await build(t)
  const businessId = 907
  const customer = await createCustomer(inject, businessId, { name: 'Kamau' })
  const saleId = 'S-Jose\u0301-1'
  const res = await inject(
    signedEvent({
      id: 'evt_nfd_1',
      type: 'sale.completed',
      created_at: '2026-11-26T09:59:01Z',
      data: {
        sale_id: saleId,
        business_id: businessId,
        customer_id: customer.id,
        total_amount: '2500.00',
        items_count: 3,
        payment_method: 'mpesa',
        completed_at: '2026-11-26T09:59:00Z',
      },
    }),
  )
  t.equal(res.statusCode, 200, 'status')
  const sale = await database.db
    .selectFrom('customer_sales')
    .select('sale_id')
    .where('business_id', '=', businessId)
    .executeTakeFirstOrThrow()
  t.equal(escaped(sale.sale_id), escaped('S-Jos\u00e9-1'), 'the sale id is stored in NFC')
})
