/**
 * migrations/2026-11-27T0900-normalise-stored-text.ts: rows written before the API cleaned its
 * input are brought to the form it now stores, once, and a second run changes nothing. Old rows
 * are made by writing text past the API, straight into the columns.
 */
import { sql } from 'kysely'
import t from 'tap'
import type { SearchResults } from '../../generated/schemas/SearchResults.js'
import { removeInvisibles } from '../../lib/text.js'
import {
  FREE_TEXT_INVISIBLES,
  NAME_INVISIBLES,
  up,
} from '../../migrations/2026-11-27T0900-normalise-stored-text.js'
import { authFor, build } from '../helper.js'
import { createCustomer } from '../support/customers.js'

const BUSINESS = 951
const NFD_JOSE = 'Jose\u0301 Mwangi'
const NFC_JOSE = 'Jos\u00e9 Mwangi'
const FAMILY = '\u{1F468}\u200D\u{1F469}\u200D\u{1F467}'

t.test('old rows are cleaned the way the API cleans, and only once', async (t) => {
  const { inject, database } = await build(t)
  const db = database.db
  const jose = await createCustomer(inject, BUSINESS, { name: 'placeholder 1' })
  const john = await createCustomer(inject, BUSINESS, { name: 'placeholder 2' })
  const invisible = await createCustomer(inject, BUSINESS, { name: 'placeholder 3' })
  const clean = await createCustomer(inject, BUSINESS, { name: 'Wanjiru', address: 'Moi Ave' })

  const old = async (id: number, values: Record<string, string | null>) =>
    db
      .updateTable('customers')
      .set(values)
      .where('business_id', '=', BUSINESS)
      .where('id', '=', id)
      .execute()
  await old(jose.id, { name: NFD_JOSE, address: '\u202EKenyatta Ave\u202C, Nairobi' })
  await old(john.id, { name: '\u200BJo\u200Dhn \u2066Kariuki\u2069', address: '\u200B\u202E' })
  await old(invisible.id, { name: '\u200B' })
  await db
    .insertInto('customer_notes')
    .values({
      business_id: BUSINESS,
      customer_id: jose.id,
      content: `Cafe\u0301 for the ${FAMILY} family\u202E`,
      created_by: 1,
    })
    .execute()
  await db
    .updateTable('customer_preferences')
    .set({ best_contact_time: '\u2067Mornings\u2069' })
    .where('business_id', '=', BUSINESS)
    .where('customer_id', '=', john.id)
    .execute()

  const search = async (q: string) => {
    const res = await inject({
      method: 'GET',
      url: `/api/customers/${BUSINESS}/search?q=${encodeURIComponent(q)}`,
      headers: authFor(BUSINESS),
    })
    t.equal(res.statusCode, 200, `search ${q}: status`)
    return res.json<SearchResults>().results.map((customer) => customer.id)
  }
  t.same(await search(NFC_JOSE), [], 'before: an NFC search misses the NFD row')

  const rows = () =>
    db
      .selectFrom('customers')
      .select(['id', 'name', 'address', 'updated_at'])
      .where('business_id', '=', BUSINESS)
      .orderBy('id')
      .execute()
  const before = await rows()

  await up(db)
  const after = await rows()
  const byId = new Map(after.map((row) => [row.id, row]))
  t.equal(byId.get(jose.id)?.name, NFC_JOSE, 'an NFD name is composed')
  t.equal(byId.get(jose.id)?.address, 'Kenyatta Ave, Nairobi', 'bidi controls leave the address')
  t.equal(byId.get(john.id)?.name, 'John Kariuki', 'zero-width and isolates leave the name')
  t.equal(byId.get(john.id)?.address, null, 'an address of only invisibles becomes absent')
  t.equal(byId.get(invisible.id)?.name, '\u200B', 'a name that would be empty is left for a person')
  t.equal(byId.get(clean.id)?.name, 'Wanjiru', 'a clean row is untouched')
  t.same(
    after.map((row) => row.updated_at),
    before.map((row) => row.updated_at),
    'updated_at is not touched',
  )
  const note = await db
    .selectFrom('customer_notes')
    .select('content')
    .where('business_id', '=', BUSINESS)
    .executeTakeFirstOrThrow()
  t.equal(note.content, `Caf\u00e9 for the ${FAMILY} family`, 'note: NFC, RTL gone, ZWJ kept')
  const preferences = await db
    .selectFrom('customer_preferences')
    .select('best_contact_time')
    .where('business_id', '=', BUSINESS)
    .where('customer_id', '=', john.id)
    .executeTakeFirstOrThrow()
  t.equal(preferences.best_contact_time, 'Mornings', 'best_contact_time: isolates gone')

  t.same(await search(NFC_JOSE), [jose.id], 'after: an NFC search finds it')
  t.same(await search(NFD_JOSE), [jose.id], 'after: so does an NFD search')
  t.same(await search('John'), [john.id], 'after: "John" finds the name stored with U+200D')

  const digest = async () =>
    (
      await sql<{ digest: string }>`select md5(string_agg(c::text, ',' order by c.id)) as digest
        from customers c where c.business_id = ${BUSINESS}`.execute(db)
    ).rows[0]?.digest
  const once = await digest()
  await up(db)
  t.equal(await digest(), once, 'a second run changes nothing')
})

t.test("the migration's character classes are lib/text.ts's", async (t) => {
  const { database } = await build(t)
  // Every format character (Cf), the joiners' neighbours and a few letters.
  const candidates: string[] = []
  for (let code = 0; code <= 0x10ffff; code += 1) {
    if (code >= 0xd800 && code <= 0xdfff) continue
    const c = String.fromCodePoint(code)
    if (/\p{Cf}/u.test(c)) candidates.push(c)
  }
  candidates.push('a', '\u00e9', '\u0301', '\u180E', '\u200A', '\u3000', '\u{1F600}')
  const result = await sql<{ c: string; name: string; free: string }>`
    select c, regexp_replace(c, ${NAME_INVISIBLES}, '', 'g') as name,
      regexp_replace(c, ${FREE_TEXT_INVISIBLES}, '', 'g') as free
    from unnest(${candidates}::text[]) as c`.execute(database.db)
  t.equal(result.rows.length, candidates.length, `${candidates.length} characters compared`)
  const hex = (c: string) => `U+${c.codePointAt(0)!.toString(16).toUpperCase()}`
  const disagreements = result.rows.flatMap(({ c, name, free }) => [
    ...(name === removeInvisibles(c, 'name') ? [] : [`${hex(c)} as a name`]),
    ...(free === removeInvisibles(c, 'free') ? [] : [`${hex(c)} as free text`]),
  ])
  t.same(disagreements, [], 'SQL and JavaScript remove the same characters')
})
