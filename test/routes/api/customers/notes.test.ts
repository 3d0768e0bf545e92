import { sql } from 'kysely'
import type { LightMyRequestResponse } from 'fastify'
import t from 'tap'
import type { ApiError } from '../../../../generated/schemas/ApiError.js'
import type { CustomerResponse } from '../../../../generated/schemas/CustomerResponse.js'
import type { NoteCreated } from '../../../../generated/schemas/NoteCreated.js'
import type { NoteList } from '../../../../generated/schemas/NoteList.js'
import { authFor, bearer, fileServer, tokenFor, type TestServer } from '../../../helper.js'
import { createCustomer } from '../../../support/customers.js'

type Inject = TestServer['inject']

const notesUrl = (businessId: number, customerId: number, query = ''): string =>
  `/api/customers/${businessId}/${customerId}/notes${query ? `?${query}` : ''}`

async function addNote(
  inject: Inject,
  businessId: number,
  customerId: number,
  payload: unknown,
  headers: Record<string, string> = authFor(businessId),
): Promise<LightMyRequestResponse> {
  return inject({
    method: 'POST',
    url: notesUrl(businessId, customerId),
    headers,
    payload: payload as Record<string, unknown>,
  })
}

async function listNotes(inject: Inject, businessId: number, customerId: number, query = '') {
  return inject({
    method: 'GET',
    url: notesUrl(businessId, customerId, query),
    headers: authFor(businessId),
  })
}

/** The stored notes of a customer, oldest first. */
async function storedNotes(server: TestServer, customerId: number) {
  const rows = await server.database.db
    .selectFrom('customer_notes')
    .selectAll()
    .where('customer_id', '=', customerId)
    .orderBy('id')
    .execute()
  return rows.map((row) => ({
    id: Number(row.id),
    business_id: Number(row.business_id),
    customer_id: Number(row.customer_id),
    note_type: row.note_type,
    content: row.content,
    created_by: Number(row.created_by),
  }))
}

async function notesOfBusiness(server: TestServer, businessId: number): Promise<number> {
  const row = await server.database.db
    .selectFrom('customer_notes')
    .select((eb) => eb.fn.countAll<string | number>().as('n'))
    .where('business_id', '=', businessId)
    .executeTakeFirstOrThrow()
  return Number(row.n)
}

const detailPaths = (res: LightMyRequestResponse): string[] =>
  (res.json<ApiError>().details ?? []).map((detail) => detail.path)

t.test('POST adds a note: 201, message, note_type defaults to personal', async (t) => {
  const server = await fileServer(t)
  const { inject } = server
  const businessId = 401
  const customer = await createCustomer(inject, businessId, { name: 'Note Subject' })

  const res = await addNote(inject, businessId, customer.id, { content: 'Likes mangoes' })
  t.equal(res.statusCode, 201, 'status')
  const body = res.json<NoteCreated>()
  t.equal(body.message, 'Note added successfully', 'message')
  t.same(Object.keys(body).sort(), ['message', 'note'], 'shape')
  t.equal(body.note.note_type, 'personal', 'note_type defaults to personal')
  t.equal(body.note.content, 'Likes mangoes', 'content')
  t.equal(body.note.customer_id, customer.id, 'customer_id')
  t.equal(body.note.business_id, businessId, 'business_id')
  t.equal(body.note.created_by, 1, 'created_by is the token sub')
  t.match(body.note.created_at, /Z$/, 'created_at in UTC')

  t.same(
    await storedNotes(server, customer.id),
    [
      {
        id: body.note.id,
        business_id: businessId,
        customer_id: customer.id,
        note_type: 'personal',
        content: 'Likes mangoes',
        created_by: 1,
      },
    ],
    'stored row',
  )
})

t.test('every note_type is accepted', async (t) => {
  const server = await fileServer(t)
  const { inject } = server
  const businessId = 402
  const customer = await createCustomer(inject, businessId, { name: 'Note Subject' })
  for (const noteType of ['personal', 'preference', 'issue', 'feedback']) {
    const res = await addNote(inject, businessId, customer.id, {
      note_type: noteType,
      content: `A ${noteType} note`,
    })
    t.equal(res.statusCode, 201, `${noteType}: status`)
    t.equal(res.json<NoteCreated>().note.note_type, noteType, `${noteType}: note_type`)
  }
  const absent = await addNote(inject, businessId, customer.id, {
    content: 'No type means personal',
  })
  t.equal(absent.statusCode, 201, 'no note_type: status')
  t.equal(absent.json<NoteCreated>().note.note_type, 'personal', 'no note_type: default')
  t.same(
    (await storedNotes(server, customer.id)).map((note) => note.note_type),
    ['personal', 'preference', 'issue', 'feedback', 'personal'],
    'stored types',
  )
})

t.test('content is trimmed and may be up to 2000 characters', async (t) => {
  const server = await fileServer(t)
  const { inject } = server
  const businessId = 403
  const customer = await createCustomer(inject, businessId, { name: 'Note Subject' })

  const cases: { name: string; content: string; stored: string }[] = [
    { name: 'padded', content: '  Pays on Fridays \n', stored: 'Pays on Fridays' },
    { name: 'one character', content: 'x', stored: 'x' },
    { name: '2000 characters', content: 'y'.repeat(2000), stored: 'y'.repeat(2000) },
    {
      name: '2000 characters once trimmed',
      content: `   ${'z'.repeat(2000)}   `,
      stored: 'z'.repeat(2000),
    },
    // Lengths count characters, not UTF-16 code units or bytes.
    { name: '2000 emoji', content: '😀'.repeat(2000), stored: '😀'.repeat(2000) },
    { name: 'unicode', content: 'Anapenda chai ☕', stored: 'Anapenda chai ☕' },
  ]
  for (const c of cases) {
    const res = await addNote(inject, businessId, customer.id, { content: c.content })
    t.equal(res.statusCode, 201, `${c.name}: status`)
    t.equal(res.json<NoteCreated>().note.content, c.stored, `${c.name}: content`)
  }
  t.same(
    (await storedNotes(server, customer.id)).map((note) => note.content),
    cases.map((c) => c.stored),
    'stored contents',
  )
})

t.test('invalid notes are refused with a 400 naming the field, nothing stored', async (t) => {
  const server = await fileServer(t)
  const { inject } = server
  const businessId = 404
  const customer = await createCustomer(inject, businessId, { name: 'Note Subject' })
  const cases: { name: string; payload: unknown; path: string }[] = [
    { name: 'content missing', payload: { note_type: 'issue' }, path: 'content' },
    { name: 'content empty', payload: { content: '' }, path: 'content' },
    { name: 'content blank', payload: { content: ' \t\n ' }, path: 'content' },
    { name: 'content of 2001 characters', payload: { content: 'c'.repeat(2001) }, path: 'content' },
    { name: 'content of 2001 emoji', payload: { content: '😀'.repeat(2001) }, path: 'content' },
    { name: 'content a number', payload: { content: 5 }, path: 'content' },
    { name: 'content null', payload: { content: null }, path: 'content' },
    {
      name: 'invalid note_type',
      payload: { note_type: 'gossip', content: 'x' },
      path: 'note_type',
    },
    // An enum has no empty value (the document's NoteType): a blank is refused, not defaulted.
    { name: 'note_type blank', payload: { note_type: '  ', content: 'x' }, path: 'note_type' },
    {
      name: 'note_type upper case',
      payload: { note_type: 'ISSUE', content: 'x' },
      path: 'note_type',
    },
    { name: 'unknown field', payload: { content: 'x', author: 'me' }, path: 'author' },
    {
      name: 'created_by set by the client',
      payload: { content: 'x', created_by: 9 },
      path: 'created_by',
    },
    { name: 'empty body', payload: {}, path: 'content' },
  ]
  for (const c of cases) {
    const res = await addNote(inject, businessId, customer.id, c.payload)
    t.equal(res.statusCode, 400, `${c.name}: status`)
    t.equal(res.json<ApiError>().error, 'Validation failed', `${c.name}: error`)
    t.ok(detailPaths(res).includes(c.path), `${c.name}: details name ${c.path}`)
  }
  t.same(await storedNotes(server, customer.id), [], 'nothing stored')
})

t.test('created_by is the sub of the token, integer or integer string', async (t) => {
  const server = await fileServer(t)
  const { inject } = server
  const businessId = 405
  const customer = await createCustomer(inject, businessId, { name: 'Note Subject' })
  const cases: { name: string; sub: number | string; expected: number }[] = [
    { name: 'integer sub', sub: 42, expected: 42 },
    { name: 'string sub', sub: '77', expected: 77 },
  ]
  for (const c of cases) {
    const headers = bearer(tokenFor({ sub: c.sub, businesses: [businessId] }))
    const res = await addNote(inject, businessId, customer.id, { content: c.name }, headers)
    t.equal(res.statusCode, 201, `${c.name}: status`)
    t.equal(res.json<NoteCreated>().note.created_by, c.expected, `${c.name}: created_by`)
  }
  t.same(
    (await storedNotes(server, customer.id)).map((note) => note.created_by),
    [42, 77],
    'stored created_by',
  )
})

t.test('a note can be added to a soft-deleted customer', async (t) => {
  const server = await fileServer(t)
  const { inject } = server
  const businessId = 406
  const customer = await createCustomer(inject, businessId, { name: 'Note Subject' })
  const removed = await inject({
    method: 'DELETE',
    url: `/api/customers/${businessId}/${customer.id}`,
    headers: authFor(businessId),
  })
  t.equal(removed.statusCode, 200, 'delete: status')

  const res = await addNote(inject, businessId, customer.id, { content: 'Moved away' })
  t.equal(res.statusCode, 201, 'status')
  t.equal(res.json<NoteCreated>().note.content, 'Moved away', 'content')
  t.equal((await storedNotes(server, customer.id)).length, 1, 'stored')

  const listed = await listNotes(inject, businessId, customer.id)
  t.equal(listed.statusCode, 200, 'list: status')
  t.equal(listed.json<NoteList>().count, 1, 'list: the note of the inactive customer')
})

t.test('POST for an unknown customer is a 404 and stores nothing', async (t) => {
  const server = await fileServer(t)
  const { inject } = server
  const [businessId, otherBusinessId] = [407, 408]
  const other = await createCustomer(inject, otherBusinessId, { name: 'Note Subject' })
  const cases: { name: string; customerId: number }[] = [
    { name: 'no such customer', customerId: 999_999_999 },
    { name: "another business's customer", customerId: other.id },
  ]
  for (const c of cases) {
    const res = await addNote(inject, businessId, c.customerId, { content: 'Should not stay' })
    t.equal(res.statusCode, 404, `${c.name}: status`)
    t.equal(res.json<ApiError>().error, 'Customer not found', `${c.name}: error`)
  }
  t.equal(await notesOfBusiness(server, businessId), 0, 'no note stored in the business')
  t.equal(await notesOfBusiness(server, otherBusinessId), 0, 'no note stored on the other one')
})

t.test('GET lists notes newest first, ties by id, newest first', async (t) => {
  const server = await fileServer(t)
  const { inject } = server
  const businessId = 409
  const customer = await createCustomer(inject, businessId, { name: 'Note Subject' })
  const other = await createCustomer(inject, businessId, { name: 'Other Customer' })
  await addNote(inject, businessId, other.id, { content: 'Not for this customer' })

  const ids: number[] = []
  for (let i = 1; i <= 5; i++) {
    const res = await addNote(inject, businessId, customer.id, { content: `Note ${i}` })
    t.equal(res.statusCode, 201, `note ${i}: status`)
    ids.push(res.json<NoteCreated>().note.id)
  }
  const newestFirst = [...ids].reverse()

  const res = await listNotes(inject, businessId, customer.id)
  t.equal(res.statusCode, 200, 'status')
  const body = res.json<NoteList>()
  t.same(Object.keys(body).sort(), ['count', 'notes'], 'shape')
  t.same(
    body.notes.map((note) => note.id),
    newestFirst,
    'newest first, only this customer',
  )
  t.same(
    body.notes.map((note) => note.content),
    ['Note 5', 'Note 4', 'Note 3', 'Note 2', 'Note 1'],
    'contents',
  )
  t.equal(body.count, 5, 'count')

  // Written in the same instant: the order falls back to id, newest first.
  await sql`update customer_notes set created_at = '2026-03-03T03:03:03Z'
    where customer_id = ${customer.id}`.execute(server.database.db)
  const tied = await listNotes(inject, businessId, customer.id)
  t.same(
    tied.json<NoteList>().notes.map((note) => note.id),
    newestFirst,
    'tied created_at: id desc',
  )

  // created_at wins over id.
  const [oldestId] = ids
  await sql`update customer_notes set created_at = '2026-04-04T04:04:04Z'
    where id = ${oldestId}`.execute(server.database.db)
  const redated = await listNotes(inject, businessId, customer.id)
  t.same(
    redated.json<NoteList>().notes.map((note) => note.id),
    [oldestId, ...newestFirst.slice(0, 4)],
    'the newest created_at first',
  )
})

t.test('GET pages with limit and offset; count is the page size', async (t) => {
  const { inject } = await fileServer(t)
  const businessId = 410
  const customer = await createCustomer(inject, businessId, { name: 'Note Subject' })
  const ids: number[] = []
  for (let i = 1; i <= 5; i++) {
    const res = await addNote(inject, businessId, customer.id, { content: `Note ${i}` })
    ids.push(res.json<NoteCreated>().note.id)
  }
  const newestFirst = [...ids].reverse()

  const cases: { query: string; expected: number[] }[] = [
    { query: 'limit=2', expected: newestFirst.slice(0, 2) },
    { query: 'limit=2&offset=2', expected: newestFirst.slice(2, 4) },
    { query: 'limit=2&offset=4', expected: newestFirst.slice(4) },
    { query: 'offset=3', expected: newestFirst.slice(3) },
    { query: 'offset=5', expected: [] },
    { query: 'limit=1&offset=0', expected: newestFirst.slice(0, 1) },
    { query: 'limit=100', expected: newestFirst },
  ]
  for (const c of cases) {
    const res = await listNotes(inject, businessId, customer.id, c.query)
    t.equal(res.statusCode, 200, `${c.query}: status`)
    const body = res.json<NoteList>()
    t.same(
      body.notes.map((note) => note.id),
      c.expected,
      `${c.query}: notes`,
    )
    t.equal(body.count, c.expected.length, `${c.query}: count is the number returned`)
  }
})

t.test('GET validates limit and offset', async (t) => {
  const { inject } = await fileServer(t)
  const businessId = 411
  const customer = await createCustomer(inject, businessId, { name: 'Note Subject' })
  const cases: { name: string; query: string; path: string }[] = [
    { name: 'limit=0', query: 'limit=0', path: 'limit' },
    { name: 'limit=101', query: 'limit=101', path: 'limit' },
    { name: 'limit=abc', query: 'limit=abc', path: 'limit' },
    { name: 'offset=-1', query: 'offset=-1', path: 'offset' },
    { name: 'offset=abc', query: 'offset=abc', path: 'offset' },
    { name: 'unknown parameter', query: 'note_type=issue', path: 'note_type' },
  ]
  for (const c of cases) {
    const res = await listNotes(inject, businessId, customer.id, c.query)
    t.equal(res.statusCode, 400, `${c.name}: status`)
    t.equal(res.json<ApiError>().error, 'Validation failed', `${c.name}: error`)
    t.ok(detailPaths(res).includes(c.path), `${c.name}: details name ${c.path}`)
  }
})

t.test('GET for an unknown customer is a 404', async (t) => {
  const server = await fileServer(t)
  const { inject } = server
  const [businessId, otherBusinessId] = [412, 413]
  const other = await createCustomer(inject, otherBusinessId, { name: 'Note Subject' })
  await addNote(inject, otherBusinessId, other.id, { content: 'Private to the other business' })
  const cases: { name: string; customerId: number }[] = [
    { name: 'no such customer', customerId: 999_999_999 },
    { name: "another business's customer", customerId: other.id },
  ]
  for (const c of cases) {
    const res = await listNotes(inject, businessId, c.customerId)
    t.equal(res.statusCode, 404, `${c.name}: status`)
    t.equal(res.json<ApiError>().error, 'Customer not found', `${c.name}: error`)
    t.notOk('notes' in res.json<object>(), `${c.name}: no notes leaked`)
  }
})

t.test('GET customer embeds its notes, newest first', async (t) => {
  const { inject } = await fileServer(t)
  const businessId = 414
  const customer = await createCustomer(inject, businessId, { name: 'Note Subject' })
  const notes = []
  for (const [noteType, content] of [
    ['personal', 'First'],
    ['issue', 'Second'],
    ['feedback', 'Third'],
  ] as const) {
    const res = await addNote(inject, businessId, customer.id, { note_type: noteType, content })
    notes.push(res.json<NoteCreated>().note)
  }

  const res = await inject({
    method: 'GET',
    url: `/api/customers/${businessId}/${customer.id}`,
    headers: authFor(businessId),
  })
  t.equal(res.statusCode, 200, 'status')
  t.same(res.json<CustomerResponse>().customer.notes, [...notes].reverse(), 'notes newest first')

  const listed = await listNotes(inject, businessId, customer.id)
  t.same(listed.json<NoteList>().notes, [...notes].reverse(), 'the same notes as the notes list')
})
