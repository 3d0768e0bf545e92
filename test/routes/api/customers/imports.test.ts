import { parse } from 'csv-parse/sync'
import { sql } from 'kysely'
import t from 'tap'
import type { Import } from '../../../../generated/schemas/Import.js'
import { authFor, fileServer, type TestServer } from '../../../helper.js'
import { eventsFor, postEvent, withoutCustomer } from '../../../sales-feed.js'
import { fixture, importFile, runQueuedImports, upload } from '../../../support/imports.js'

const HEADER = 'name,phone,email,address,customer_type,prefer_sms,prefer_email,prefer_call,notes'

let nextBusiness = 7100
const newBusiness = () => (nextBusiness += 1)

async function countRows(server: TestServer, table: string, businessId: number) {
  const { rows } = await sql<{ count: string }>`select count(*) from ${sql.table(table)}
    where business_id = ${businessId}`.execute(server.database.db)
  return Number(rows[0]?.count)
}

async function errorsCsv(server: TestServer, businessId: number, importId: number) {
  const res = await server.inject({
    method: 'GET',
    url: `/api/customers/${businessId}/imports/${importId}/errors`,
    headers: authFor(businessId),
  })
  return { res, records: parse(res.body, { bom: true }) as string[][] }
}

async function customersOf(server: TestServer, businessId: number) {
  return server.database.db
    .selectFrom('customers')
    .selectAll()
    .where('business_id', '=', businessId)
    .orderBy('id')
    .execute()
}

t.test(
  'a file with every kind of row: exact counts, exact problems, exact customers',
  async (t) => {
    const server = await fileServer(t)
    const business = newBusiness()
    const auth = authFor(business)
    const res = await upload(server.inject, business, auth, fixture('every-kind-of-row.csv'))
    t.equal(res.statusCode, 202, res.body)
    const queued = res.json<{ import: Import }>().import
    t.match(queued, { status: 'queued', mode: 'create', dry_run: false, rows: 14, processed: 0 })
    t.equal(res.headers.location, `/api/customers/${business}/imports/${queued.id}`)
    t.equal(await runQueuedImports(server), 1, 'one job ran')

    const read = await server.inject({
      method: 'GET',
      url: String(res.headers.location),
      headers: auth,
    })
    const done = read.json<{ import: Import }>().import
    t.match(done, {
      status: 'succeeded',
      rows: 14,
      processed: 14,
      created: 4,
      updated: 0,
      skipped: 0,
      failed_rows: 10,
    })
    t.type(done.started_at, 'string')
    t.type(done.finished_at, 'string')

    const { res: errors, records } = await errorsCsv(server, business, done.id)
    t.equal(errors.statusCode, 200)
    t.match(String(errors.headers['content-type']), /^text\/csv/)
    t.ok(errors.body.startsWith('\uFEFFrow,column,message\r\n'), 'BOM, header, CRLF')
    t.same(records, [
      ['row', 'column', 'message'],
      ['2', 'name', 'is required'],
      ['3', 'phone', 'must be a valid phone number'],
      ['4', 'email', 'must be a valid email address'],
      ['5', 'customer_type', 'must be one of: walk_in, regular, vip, wholesale'],
      ['6', 'name', 'must be at most 255 characters'],
      ['7', '', 'has 2 fields; the header has 9'],
      ['10', 'prefer_sms', 'must be boolean'],
      ['11', 'address', 'must be at most 500 characters'],
      ['12', 'notes', 'must be at most 2000 characters'],
      ['13', 'name', 'must not be empty'],
    ])

    const customers = await customersOf(server, business)
    t.same(
      customers.map((c) => [c.name, c.phone, c.email, c.address, c.customer_type]),
      [
        [
          'Wanjirũ Kamau',
          '+254712345678',
          'wanjiru@example.co.ke',
          'Plot 4, Kiambu Road',
          'regular',
        ],
        [
          'Muthoni "Mama Mboga" Wairimu',
          '+254733000111',
          null,
          'Gikomba Market\nStall 12',
          'wholesale',
        ],
        ["Ng'ang'a Kĩmani", '+254711222333', 'NGANGA@Example.co.ke', null, 'vip'],
        ['Juma Bakari', '+254799888777', 'juma@example.co.ke', null, 'walk_in'],
      ],
      'names with diacritics, quoted commas, quotes and line breaks, phones in E.164',
    )
    t.same(
      customers.map((c) => [c.prefer_sms, c.prefer_email, c.prefer_call]),
      [
        [true, false, false],
        [true, false, true],
        [true, true, false],
        [true, false, false],
      ],
      'booleans in any case and form; empty = default',
    )
    const notes = await server.database.db
      .selectFrom('customer_notes')
      .select(['customer_id', 'note_type', 'content', 'created_by'])
      .where('business_id', '=', business)
      .orderBy('customer_id')
      .execute()
    t.same(
      notes.map((note) => [note.note_type, note.content, note.created_by]),
      [
        ['personal', 'Likes sukuma wiki', 1],
        ['personal', 'Pays on Fridays, always', 1],
      ],
      'notes cells are personal notes by the token sub',
    )
    const sources = await server.database.db
      .selectFrom('customer_consents')
      .select('source')
      .distinct()
      .where('business_id', '=', business)
      .execute()
    t.same(
      sources,
      [{ source: 'import' }],
      'created customers record their flags with source import',
    )
    t.equal(await countRows(server, 'customer_import_rows', business), 0, 'nothing left staged')
  },
)

t.test('every rejected row is refused by endpoint 1 with the same message', async (t) => {
  const server = await fileServer(t)
  const business = newBusiness()
  const auth = authFor(business)
  const bodies: [Record<string, unknown>, string, string][] = [
    [{ phone: '0712 000 001' }, 'name', 'is required'],
    [{ name: 'Brian', phone: '12345' }, 'phone', 'must be a valid phone number'],
    [{ name: 'Achieng', email: 'not-an-email' }, 'email', 'must be a valid email address'],
    [
      { name: 'K', customer_type: 'platinum' },
      'customer_type',
      'must be one of: walk_in, regular, vip, wholesale',
    ],
    [{ name: 'N'.repeat(256) }, 'name', 'must be at most 255 characters'],
    [{ name: 'Z', prefer_sms: 'maybe' }, 'prefer_sms', 'must be boolean'],
    [{ name: 'F', address: 'A'.repeat(501) }, 'address', 'must be at most 500 characters'],
    [{ name: '   ' }, 'name', 'must not be empty'],
  ]
  for (const [body, path, message] of bodies) {
    const res = await server.inject({
      method: 'POST',
      url: `/api/customers/${business}`,
      headers: auth,
      payload: body,
    })
    t.equal(res.statusCode, 400)
    t.same(res.json<{ details: unknown[] }>().details, [{ path, message }], `${path}: ${message}`)
  }
})

t.test(
  'upsert: by phone, then by e-mail; two customers is a rejected row; same values skip',
  async (t) => {
    const server = await fileServer(t)
    const business = newBusiness()
    const auth = authFor(business)
    const create = async (body: Record<string, unknown>) => {
      const res = await server.inject({
        method: 'POST',
        url: `/api/customers/${business}`,
        headers: auth,
        payload: body,
      })
      return res.json<{ customer: { id: number } }>().customer.id
    }
    const amina = await create({
      name: 'Amina',
      phone: '0712 100 100',
      email: 'amina@example.co.ke',
    })
    const baraka = await create({ name: 'Baraka', email: 'baraka@example.co.ke' })
    const chebet = await create({ name: 'Chebet', phone: '0712 300 300' })
    const daudi = await create({ name: 'Daudi', email: 'daudi@example.co.ke' })
    const csv = [
      HEADER,
      // Amina by phone (her e-mail changes too), a note added.
      'Amina Mohamed,+254712100100,amina.m@example.co.ke,,vip,,,,Prefers M-Pesa',
      // Baraka by e-mail, whatever its case; the empty cells leave his fields as they are.
      'Baraka,,BARAKA@EXAMPLE.CO.KE,Kisumu,,no,,,',
      // Chebet's phone and Daudi's e-mail: two customers.
      'Chebet,0712 300 300,daudi@example.co.ke,,,,,,',
      // Amina again, exactly as the first row left her: nothing to change.
      'Amina Mohamed,0712 100 100,amina.m@example.co.ke,,vip,,,,',
      // Nobody has this phone or e-mail: created.
      'Esther,0712 500 500,esther@example.co.ke,,,,,,',
    ].join('\n')
    const done = await importFile(server, business, auth, csv, '?mode=upsert')
    t.match(done, {
      status: 'succeeded',
      rows: 5,
      processed: 5,
      created: 1,
      updated: 2,
      skipped: 1,
      failed_rows: 1,
    })
    const { records } = await errorsCsv(server, business, done.id)
    t.same(records.slice(1), [
      ['3', '', 'its phone and its e-mail belong to two different customers'],
    ])

    const byId = new Map((await customersOf(server, business)).map((c) => [c.id, c]))
    t.match(byId.get(amina), {
      name: 'Amina Mohamed',
      email: 'amina.m@example.co.ke',
      customer_type: 'vip',
      version: 2,
    })
    t.match(byId.get(baraka), {
      name: 'Baraka',
      email: 'BARAKA@EXAMPLE.CO.KE',
      address: 'Kisumu',
      prefer_sms: false,
      version: 2,
    })
    t.match(byId.get(chebet), { name: 'Chebet', version: 1 }, 'rejected row changed nothing')
    t.match(byId.get(daudi), { name: 'Daudi', version: 1 })
    t.equal(byId.size, 5, 'one customer created')
    const withdrawn = await server.database.db
      .selectFrom('customer_consents')
      .select(['channel', 'purpose', 'status', 'source'])
      .where('business_id', '=', business)
      .where('customer_id', '=', baraka)
      .orderBy('id', 'desc')
      .executeTakeFirst()
    t.same(withdrawn, { channel: 'sms', purpose: 'service', status: 'withdrawn', source: 'import' })
    const aminaNotes = await server.database.db
      .selectFrom('customer_notes')
      .select('content')
      .where('business_id', '=', business)
      .where('customer_id', '=', amina)
      .execute()
    t.same(aminaNotes, [{ content: 'Prefers M-Pesa' }], 'the skipped row added no second note')
  },
)

t.test('a dry run reports the counts and problems and writes nothing else', async (t) => {
  const server = await fileServer(t)
  const business = newBusiness()
  const auth = authFor(business)
  const dry = await importFile(
    server,
    business,
    auth,
    fixture('every-kind-of-row.csv'),
    '?dry_run=true',
  )
  t.match(dry, {
    status: 'succeeded',
    dry_run: true,
    rows: 14,
    processed: 14,
    created: 4,
    failed_rows: 10,
  })
  for (const table of [
    'customers',
    'customer_notes',
    'customer_consents',
    'customer_changes',
    'customer_preferences',
  ]) {
    t.equal(await countRows(server, table, business), 0, `${table}: nothing written`)
  }
  const { records } = await errorsCsv(server, business, dry.id)
  t.equal(records.length - 1, 10, 'the problems are reported')
  const real = await importFile(server, business, auth, fixture('every-kind-of-row.csv'))
  t.match(
    real,
    { created: dry.created, failed_rows: dry.failed_rows },
    'the real run counts the same',
  )
})

t.test('the same upload twice with one Idempotency-Key runs once', async (t) => {
  const server = await fileServer(t)
  const business = newBusiness()
  const headers = { ...authFor(business), 'idempotency-key': 'import-once-1' }
  const csv = `${HEADER}\nOnce Only,0712 600 600,,,,,,,\n`
  const first = await upload(server.inject, business, headers, csv)
  const second = await upload(server.inject, business, headers, csv)
  t.equal(first.statusCode, 202)
  t.equal(second.statusCode, 202)
  t.equal(second.headers['idempotent-replayed'], 'true')
  t.same(second.json(), first.json())
  t.equal(await countRows(server, 'customer_imports', business), 1, 'one import')
  t.equal(await runQueuedImports(server), 1, 'one job')
  t.equal(await countRows(server, 'customers', business), 1, 'one customer')
  const other = await upload(server.inject, business, headers, `${csv}Another,,,,,,,,\n`)
  t.equal(other.statusCode, 422, 'the same key with another file')
})

t.test('a sale waiting for a phone goes to the customer an import creates with it', async (t) => {
  const server = await fileServer(t)
  const business = newBusiness()
  const auth = authFor(business)
  const [completed] = eventsFor(
    business,
    0,
    [
      {
        saleId: 'M-1',
        totalCents: 150_00,
        items: 1,
        completedAt: '2026-12-01T10:00:00.000Z',
        refundsCents: [],
        voided: false,
      },
    ],
    'import-walk-in',
  )
  if (!completed) throw new Error('no event')
  const sale = await postEvent(server.inject, withoutCustomer(completed, { phone: '0712 700 700' }))
  t.equal(sale.json<{ status: string }>().status, 'unattributed')
  await importFile(server, business, auth, `${HEADER}\nWalk In Registered,0712 700 700,,,,,,,\n`)
  const [customer] = await customersOf(server, business)
  const history = await server.database.db
    .selectFrom('customer_purchase_history')
    .select(['total_purchases', 'total_spent'])
    .where('business_id', '=', business)
    .where('customer_id', '=', customer?.id ?? 0)
    .executeTakeFirst()
  t.same(history, { total_purchases: 1, total_spent: '150.00' }, 'the sale is in the history')
  const owner = await server.database.db
    .selectFrom('customer_sales')
    .select(['customer_id', 'matched_by'])
    .where('business_id', '=', business)
    .executeTakeFirst()
  t.same(owner, { customer_id: customer?.id, matched_by: 'phone' })
})

t.test('the upload is refused whole, and nothing is imported, when', async (t) => {
  const server = await fileServer(t)
  const business = newBusiness()
  const auth = authFor(business)
  const refusals: [string, string | Buffer, number, string][] = [
    [
      'a column is unknown',
      'name,phone,shoe_size\nA,,42\n',
      400,
      'has an unknown column "shoe_size"',
    ],
    [
      'there is no name column',
      'phone,email\n0712 000 000,a@b.co\n',
      400,
      'must have a "name" column',
    ],
    ['a column is repeated', 'name,phone,name\nA,,B\n', 400, 'has the column "name" twice'],
    ['the file is empty', '', 400, 'must have a "name" column'],
    [
      'a quote is never closed',
      `${HEADER}\n"Unclosed,,,,,,,,\n`,
      400,
      'is not a CSV file this import can read',
    ],
    [
      'the body is not UTF-8',
      Buffer.from([0x6e, 0x61, 0x6d, 0x65, 0x0a, 0xff, 0xfe, 0x0a]),
      400,
      'must be UTF-8 text',
    ],
    [
      'it has more than 200,000 rows',
      `name\n${'A\n'.repeat(200_001)}`,
      413,
      'more than 200000 rows',
    ],
  ]
  for (const [label, body, status, message] of refusals) {
    const res = await upload(server.inject, business, auth, body)
    t.equal(res.statusCode, status, `${label}: ${status}`)
    const answer = res.json<{ message?: string; details?: { message: string }[] }>()
    const said = [answer.message, ...(answer.details ?? []).map((detail) => detail.message)]
    t.ok(
      said.some((text) => text?.includes(message)),
      `${label}: says why (${said.join('; ')})`,
    )
  }
  const tooBig = await upload(
    server.inject,
    business,
    auth,
    `name\n${'A'.repeat(50 * 1024 * 1024)}\n`,
  )
  t.equal(tooBig.statusCode, 413, 'larger than 50 MB')
  const json = await server.inject({
    method: 'POST',
    url: `/api/customers/${business}/imports`,
    headers: auth,
    payload: { name: 'A' },
  })
  t.equal(json.statusCode, 415, 'JSON is not CSV')
  t.match(json.json(), { error: 'Unsupported media type', message: 'Send the file as text/csv' })
  const badMode = await upload(server.inject, business, auth, `${HEADER}\n`, '?mode=merge')
  t.equal(badMode.statusCode, 400, 'unknown mode')
  t.equal(await countRows(server, 'customer_imports', business), 0, 'no import was recorded')
  t.equal(await countRows(server, 'customer_import_rows', business), 0, 'no row was staged')
  t.equal(await runQueuedImports(server), 0, 'no job was queued')
})

t.test('header names are matched in any case and order; blank lines are not rows', async (t) => {
  const server = await fileServer(t)
  const business = newBusiness()
  const done = await importFile(
    server,
    business,
    authFor(business),
    'Phone,NAME\r\n\r\n0712 800 800,Ordered Differently\r\n\r\n',
  )
  t.match(done, { rows: 1, created: 1, failed_rows: 0 })
  const [customer] = await customersOf(server, business)
  t.match(customer, { name: 'Ordered Differently', phone: '+254712800800' })
})

t.test('imports of another business are not found; its token is refused', async (t) => {
  const server = await fileServer(t)
  const owner = newBusiness()
  const stranger = newBusiness()
  const done = await importFile(server, owner, authFor(owner), `${HEADER}\nMine,,,,,,,,\n`)
  for (const url of [
    `/api/customers/${stranger}/imports/${done.id}`,
    `/api/customers/${stranger}/imports/${done.id}/errors`,
  ]) {
    const res = await server.inject({ method: 'GET', url, headers: authFor(stranger) })
    t.equal(res.statusCode, 404, url)
    t.match(res.json(), { error: 'Import not found' })
  }
  const forbidden = await server.inject({
    method: 'GET',
    url: `/api/customers/${owner}/imports/${done.id}`,
    headers: authFor(stranger),
  })
  t.equal(forbidden.statusCode, 403)
  const upload403 = await upload(
    server.inject,
    owner,
    authFor(stranger),
    `${HEADER}\nTheirs,,,,,,,,\n`,
  )
  t.equal(upload403.statusCode, 403)
  t.equal(await countRows(server, 'customer_imports', owner), 1)
})
