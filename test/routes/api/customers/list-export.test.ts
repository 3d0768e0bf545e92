import { request as httpRequest, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { parse } from 'csv-parse/sync'
import { sql } from 'kysely'
import t, { type Test } from 'tap'
import { EXPORT_BATCH_SIZE, EXPORT_COLUMNS } from '../../../../services/list-export.js'
import { authFor, build, fileServer, type TestServer } from '../../../helper.js'

const BUSINESS = 1701
const SLOW_BUSINESS = 1702
const OTHER_BUSINESS = 1703
const EXACT_BUSINESS = 1704
const CUSTOMERS = 20_000
/** What loopback socket buffers and the response stream hold before a write waits, at most. */
const IN_FLIGHT_BYTES = 8 * 1024 * 1024

const server: TestServer = await fileServer(t)
const { db } = server.database

/**
 * `count` customers of `businessId`, set-based: every 7th name holds a comma and quotes, every
 * 7th starts like a formula, every 7th has a line break, Swahili diacritics throughout; every
 * 10th inactive; types in turn; every 997th without a purchase-history row. `address` repeats
 * `addressText` when given (the slow-client test makes each row about 2 KB).
 */
async function seed(businessId: number, count: number, addressText?: string): Promise<void> {
  await db
    .insertInto('businesses')
    .values({ id: businessId })
    .onConflict((conflict) => conflict.column('id').doNothing())
    .execute()
  await sql`insert into customers
      (business_id, name, phone, email, address, customer_type, is_active, prefer_email, created_at)
    select ${businessId},
      case n % 7
        when 0 then 'Wanjirũ "Shiru", ' || n
        when 1 then '=HYPERLINK("http://x")' || n
        when 2 then 'Line' || chr(10) || 'break ' || n
        when 3 then '-Ochieng ' || n
        when 4 then '@Akinyi ' || n
        else 'Mũthoni Njoroge ' || n end,
      case when n % 3 = 0 then '+2547' || lpad(n::text, 8, '0') end,
      case when n % 4 = 0 then '+c' || n || '@example.co.ke' end,
      case when ${addressText ?? null}::text is not null then ${addressText ?? null}::text
        when n % 5 = 0 then 'Plot ' || n || ', Ngong Road' || chr(13) || chr(10) || 'Nairobi' end,
      (array['walk_in', 'regular', 'vip', 'wholesale'])[n % 4 + 1],
      n % 10 <> 0,
      n % 2 = 0,
      timestamptz '2026-01-01T00:00:00Z' + (n / 3) * interval '1 minute'
    from generate_series(1, ${count}) as n`.execute(db)
  await sql`insert into customer_purchase_history
      (business_id, customer_id, total_purchases, total_spent, total_items_bought,
       avg_transaction_value, first_purchase_date, last_purchase_date, is_repeat_customer,
       repeat_frequency, customer_lifetime_value)
    select business_id, id, id % 12, (id % 12) * 250.50, (id % 12) * 1.5, 250.50,
      case when id % 12 > 0 then timestamptz '2026-02-01T08:00:00Z' end,
      case when id % 12 > 0 then timestamptz '2026-03-01T08:00:00Z' + (id % 50) * interval '1 day' end,
      id % 12 >= 2,
      case when id % 12 = 0 then 'new' when id % 12 = 1 then 'one_time'
        when id % 12 < 5 then 'occasional' when id % 12 < 10 then 'regular' else 'frequent' end,
      (id % 12) * 250.50
    from customers where business_id = ${businessId} and id % 997 <> 0`.execute(db)
}

await seed(BUSINESS, CUSTOMERS)
await seed(OTHER_BUSINESS, 50)

type Cells = Record<string, string>

/** SPEC's export columns, in SPEC's order: the CSV's header, word for word. */
const HEADER =
  'id,name,phone,email,address,customer_type,is_active,created_at,total_purchases,total_spent,customer_lifetime_value,last_purchase_date,loyalty_tier'

/**
 * What the export must hold, read straight from the tables (not through the export's query):
 * each row as its CSV cells and as its NDJSON object.
 */
async function expected(where: string, order: string) {
  const { rows } = await sql<Record<string, unknown>>`select c.id, c.name, c.phone, c.email,
      c.address, c.customer_type, c.is_active, c.created_at, h.total_purchases, h.total_spent,
      h.customer_lifetime_value, h.last_purchase_date, h.repeat_frequency
    from customers c left join customer_purchase_history h
      on h.business_id = c.business_id and h.customer_id = c.id
    where ${sql.raw(where)} order by ${sql.raw(order)}`.execute(db)
  const objects = rows.map((row) => {
    const has = row.total_purchases !== null
    return {
      id: row.id,
      name: row.name,
      phone: row.phone,
      email: row.email,
      address: row.address,
      customer_type: row.customer_type,
      is_active: row.is_active,
      created_at: (row.created_at as Date).toISOString(),
      total_purchases: has ? row.total_purchases : 0,
      total_spent: has ? row.total_spent : '0.00',
      customer_lifetime_value: has ? row.customer_lifetime_value : '0.00',
      last_purchase_date: (row.last_purchase_date as Date | null)?.toISOString() ?? null,
      loyalty_tier: has ? row.repeat_frequency : 'new',
    } as Record<string, unknown>
  })
  const cells = objects.map((object): Cells => {
    const entries = Object.entries(object).map(([key, value]) => {
      if (value === null) return [key, '']
      const text = String(value)
      const guarded = ['name', 'email', 'address'].includes(key) && /^[=+\-@\t\r]/.test(text)
      return [key, guarded ? `'${text}` : text]
    })
    return Object.fromEntries(entries) as Cells
  })
  return { objects, cells }
}

async function exportOf(query: string, headers: Record<string, string> = {}) {
  return server.inject({
    method: 'GET',
    url: `/api/customers/${BUSINESS}/export${query}`,
    headers: { ...authFor(BUSINESS), ...headers },
  })
}

function parseCsv(body: string): Cells[] {
  return parse(body, { bom: true, columns: true, relax_quotes: false }) as Cells[]
}

/** The first row that differs, named, or a pass: a diff of 20,000 rows helps nobody. */
function sameRows(t: Test, actual: unknown[], wanted: unknown[], name: string): void {
  t.equal(actual.length, wanted.length, `${name}: ${wanted.length} rows`)
  const index = wanted.findIndex((row, at) => JSON.stringify(row) !== JSON.stringify(actual[at]))
  if (index === -1) t.pass(`${name}: every row equal`)
  else t.strictSame(actual[index], wanted[index], `${name}: row ${index} differs`)
}

t.test('the CSV of 20,000 customers parses back to exactly those rows', async (t) => {
  const response = await exportOf('', { accept: 'text/csv' })
  t.equal(response.statusCode, 200, 'status')
  t.equal(response.headers['content-type'], 'text/csv; charset=utf-8; header=present')
  t.match(
    response.headers['content-disposition'],
    new RegExp(`^attachment; filename="customers-${BUSINESS}-\\d{4}-\\d{2}-\\d{2}\\.csv"$`),
    'an attachment with a file name',
  )
  t.equal(response.headers['cache-control'], 'no-store', 'never cached')
  t.same([...response.rawPayload.subarray(0, 3)], [0xef, 0xbb, 0xbf], 'UTF-8 with a BOM')
  const firstLine = response.body.slice(1, response.body.indexOf('\r\n'))
  t.equal(firstLine, HEADER, "the header row: SPEC's columns in SPEC's order, CRLF")
  t.strictSame([...EXPORT_COLUMNS], HEADER.split(','), 'EXPORT_COLUMNS is that header')
  const { cells } = await expected(
    `c.business_id = ${BUSINESS} and c.is_active`,
    'c.created_at desc, c.id desc',
  )
  t.equal(cells.length, CUSTOMERS * 0.9, 'the active ones: 18,000')
  sameRows(t, parseCsv(response.body), cells, 'default export (active, newest first)')
  t.match(response.body, /,"Wanjirũ ""Shiru"", \d+",/, 'commas and quotes quoted, quotes doubled')
  t.match(response.body, /,"'=HYPERLINK\(""http:\/\/x""\)\d+",/, 'a formula starts with a quote')
  t.match(response.body, /,"Line\nbreak \d+",/, 'a line break is quoted')
  t.match(response.body, /,\+2547\d{8},/, 'a phone keeps its +')
})

/**
 * Three customers written out by hand, oldest first: no purchase-history row; one purchase of
 * 2,500.5 (1,300.5 net after a refund); twelve purchases, a formula for a name and a two-line
 * address. Their ids, in that order.
 */
async function seedExact(): Promise<number[]> {
  await db.insertInto('businesses').values({ id: EXACT_BUSINESS }).execute()
  const { rows } = await sql<{ id: number }>`insert into customers
      (business_id, name, phone, email, address, customer_type, created_at)
    values
      (${EXACT_BUSINESS}, 'Wanjiru Kamau', '+254712345678', 'wanjiru@example.co.ke', null,
        'regular', '2026-11-26T09:00:00.123456Z'),
      (${EXACT_BUSINESS}, 'Otieno, "Oti"', null, null, 'Moi Avenue', 'walk_in',
        '2026-11-27T10:30:00Z'),
      (${EXACT_BUSINESS}, '=SUM(A1)', '+254798765432', null, 'Plot 7' || chr(13) || chr(10) || 'Kisumu',
        'vip', '2026-11-28T23:59:59.999999Z')
    returning id`.execute(db)
  const ids = rows.map((row) => row.id)
  await sql`insert into customer_purchase_history
      (business_id, customer_id, total_purchases, total_spent, total_items_bought,
       avg_transaction_value, first_purchase_date, last_purchase_date, is_repeat_customer,
       repeat_frequency, customer_lifetime_value)
    values
      (${EXACT_BUSINESS}, ${ids[1]}, 1, 2500.5, 3, 2500.5, '2026-11-27T11:00:00Z',
        '2026-11-27T11:00:00Z', false, 'one_time', 1300.5),
      (${EXACT_BUSINESS}, ${ids[2]}, 12, 30000, 40, 2500, '2026-11-28T08:00:00Z',
        '2026-12-01T16:45:10.5Z', true, 'frequent', 30000)`.execute(db)
  return ids
}

t.test("exact values: SPEC's columns, money with two places, the loyalty tier", async (t) => {
  const [plain, refunded, frequent] = await seedExact()
  const csv = await server.inject({
    method: 'GET',
    url: `/api/customers/${EXACT_BUSINESS}/export?sort_by=created_at&sort_order=asc`,
    headers: authFor(EXACT_BUSINESS),
  })
  t.equal(csv.statusCode, 200, 'CSV: status')
  t.equal(
    csv.body,
    [
      `\uFEFF${HEADER}`,
      `${plain},Wanjiru Kamau,+254712345678,wanjiru@example.co.ke,,regular,true,2026-11-26T09:00:00.123Z,0,0.00,0.00,,new`,
      `${refunded},"Otieno, ""Oti""",,,Moi Avenue,walk_in,true,2026-11-27T10:30:00.000Z,1,2500.50,1300.50,2026-11-27T11:00:00.000Z,one_time`,
      `${frequent},'=SUM(A1),+254798765432,,"Plot 7\r\nKisumu",vip,true,2026-11-28T23:59:59.999Z,12,30000.00,30000.00,2026-12-01T16:45:10.500Z,frequent`,
      '',
    ].join('\r\n'),
    'CSV: the whole file',
  )
  const ndjson = await server.inject({
    method: 'GET',
    url: `/api/customers/${EXACT_BUSINESS}/export?format=ndjson&sort_by=id&sort_order=asc`,
    headers: authFor(EXACT_BUSINESS),
  })
  t.equal(ndjson.statusCode, 200, 'NDJSON: status')
  t.equal(
    ndjson.body,
    [
      `{"id":${plain},"name":"Wanjiru Kamau","phone":"+254712345678","email":"wanjiru@example.co.ke","address":null,"customer_type":"regular","is_active":true,"created_at":"2026-11-26T09:00:00.123Z","total_purchases":0,"total_spent":"0.00","customer_lifetime_value":"0.00","last_purchase_date":null,"loyalty_tier":"new"}`,
      `{"id":${refunded},"name":"Otieno, \\"Oti\\"","phone":null,"email":null,"address":"Moi Avenue","customer_type":"walk_in","is_active":true,"created_at":"2026-11-27T10:30:00.000Z","total_purchases":1,"total_spent":"2500.50","customer_lifetime_value":"1300.50","last_purchase_date":"2026-11-27T11:00:00.000Z","loyalty_tier":"one_time"}`,
      `{"id":${frequent},"name":"=SUM(A1)","phone":"+254798765432","email":null,"address":"Plot 7\\r\\nKisumu","customer_type":"vip","is_active":true,"created_at":"2026-11-28T23:59:59.999Z","total_purchases":12,"total_spent":"30000.00","customer_lifetime_value":"30000.00","last_purchase_date":"2026-12-01T16:45:10.500Z","loyalty_tier":"frequent"}`,
      '',
    ].join('\n'),
    'NDJSON: the same fields in the same order, exact values, no quote prefix',
  )
})

t.test('the export applies the list filters and orders', async (t) => {
  const cases = [
    {
      query: '?filter_type=vip',
      where: `c.is_active and c.customer_type = 'vip'`,
      order: 'c.created_at desc, c.id desc',
    },
    { query: '?is_active=false', where: 'not c.is_active', order: 'c.created_at desc, c.id desc' },
    {
      query: '?sort_by=name&sort_order=asc',
      where: 'c.is_active',
      order: 'lower(c.name) asc, c.id asc',
    },
    {
      query: '?sort_by=id&filter_type=wholesale&is_active=false',
      where: `not c.is_active and c.customer_type = 'wholesale'`,
      order: 'c.id desc',
    },
    {
      query: '?sort_by=created_at&sort_order=asc',
      where: 'c.is_active',
      order: 'c.created_at asc, c.id asc',
    },
  ]
  for (const { query, where, order } of cases) {
    const response = await exportOf(query)
    t.equal(response.statusCode, 200, `${query}: status`)
    const { cells } = await expected(`c.business_id = ${BUSINESS} and ${where}`, order)
    sameRows(t, parseCsv(response.body), cells, query)
  }
})

t.test('NDJSON: one JSON object per line, the same rows, no quote prefixes', async (t) => {
  const cases = [
    { headers: { accept: 'application/x-ndjson' }, query: '', name: 'Accept' },
    { headers: { accept: 'text/csv' }, query: '?format=ndjson', name: 'format over Accept' },
  ]
  const { objects } = await expected(
    `c.business_id = ${BUSINESS} and c.is_active`,
    'c.created_at desc, c.id desc',
  )
  for (const { headers, query, name } of cases) {
    const response = await exportOf(query, headers)
    t.equal(response.statusCode, 200, `${name}: status`)
    t.equal(
      response.headers['content-type'],
      'application/x-ndjson; charset=utf-8',
      `${name}: type`,
    )
    t.match(response.headers['content-disposition'], /\.ndjson"$/, `${name}: file name`)
    t.ok(response.body.endsWith('}\n'), `${name}: every line ends with \\n`)
    const lines = response.body.split('\n').slice(0, -1)
    sameRows(
      t,
      lines.map((line) => JSON.parse(line) as unknown),
      objects,
      name,
    )
  }
})

t.test('Accept: CSV unless NDJSON is preferred; anything else is a 406', async (t) => {
  const cases = [
    { accept: undefined, type: 'text/csv' },
    { accept: '*/*', type: 'text/csv' },
    { accept: 'text/*', type: 'text/csv' },
    { accept: 'application/x-ndjson;q=0.9, text/csv;q=0.5', type: 'application/x-ndjson' },
    { accept: 'application/json, text/csv;q=0.1', type: 'text/csv' },
    { accept: 'application/json', status: 406 },
    { accept: 'text/html, application/xml', status: 406 },
  ]
  for (const { accept, type, status } of cases) {
    const name = `Accept ${accept ?? '(none)'}`
    const response = await server.inject({
      method: 'GET',
      url: `/api/customers/${OTHER_BUSINESS}/export`,
      headers: { ...authFor(OTHER_BUSINESS), ...(accept ? { accept } : {}) },
    })
    if (status) {
      t.equal(response.statusCode, status, `${name}: status`)
      t.strictSame(
        response.json(),
        {
          error: 'Not acceptable',
          message: 'This export is text/csv or application/x-ndjson',
          request_id: response.headers['x-request-id'],
        },
        `${name}: body`,
      )
      continue
    }
    t.equal(response.statusCode, 200, `${name}: status`)
    t.match(response.headers['content-type'], type!, `${name}: ${type}`)
  }
  const forced = await server.inject({
    method: 'GET',
    url: `/api/customers/${OTHER_BUSINESS}/export?format=csv`,
    headers: { ...authFor(OTHER_BUSINESS), accept: 'application/json' },
  })
  t.equal(forced.statusCode, 200, '?format=csv whatever Accept says')
})

t.test('tenancy: only the business in the path, and only when the token grants it', async (t) => {
  const denied = await exportOf('', authFor(OTHER_BUSINESS))
  t.equal(denied.statusCode, 403, 'a token for another business: 403')
  t.equal(denied.json().error, 'Access denied')
  const none = await server.inject({ method: 'GET', url: `/api/customers/${BUSINESS}/export` })
  t.equal(none.statusCode, 401, 'no token: 401')
  const both = await server.inject({
    method: 'GET',
    url: `/api/customers/${OTHER_BUSINESS}/export?is_active=false`,
    headers: authFor(BUSINESS, OTHER_BUSINESS),
  })
  t.equal(both.statusCode, 200, 'a token for both: 200')
  const { cells } = await expected(
    `c.business_id = ${OTHER_BUSINESS} and not c.is_active`,
    'c.created_at desc, c.id desc',
  )
  t.equal(cells.length, 5, "the other business's 5 inactive customers")
  sameRows(t, parseCsv(both.body), cells, 'every row of the business in the path')
  const empty = await server.inject({
    method: 'GET',
    url: '/api/customers/1799/export',
    headers: authFor(1799),
  })
  t.equal(empty.statusCode, 200, 'a business with no customer: 200')
  t.equal(empty.body, `\uFEFF${HEADER}\r\n`, 'the header row alone')
  const bad = await exportOf('?format=xml')
  t.equal(bad.statusCode, 400, 'an unknown format: 400')
  t.equal(bad.json().details[0].path, 'format', 'naming format')
})

t.test('export is a path of its own, never a customer id', async (t) => {
  const head = await server.inject({
    method: 'HEAD',
    url: `/api/customers/${BUSINESS}/export`,
    headers: authFor(BUSINESS),
  })
  t.equal(head.statusCode, 200, 'HEAD: 200')
  t.match(head.headers['content-disposition'], /^attachment/, 'HEAD: the headers')
  t.equal(head.body, '', 'HEAD: no body')
  const remove = await server.inject({
    method: 'DELETE',
    url: `/api/customers/${BUSINESS}/export`,
    headers: authFor(BUSINESS),
  })
  t.equal(remove.statusCode, 405, 'DELETE /export: 405, not a delete of customer "export"')
  t.equal(remove.headers.allow, 'GET, HEAD', 'Allow: GET, HEAD')
})

/** A GET on a real socket that reads `bytes`, then stops reading until `resume` is called. */
async function stalledDownload(url: string, headers: Record<string, string>, bytes: number) {
  let received = 0
  let response: IncomingMessage | undefined
  const done = new Promise<number>((resolve, reject) => {
    const request = httpRequest(url, { headers }, (res) => {
      response = res
      res.on('data', (chunk: Buffer) => {
        received += chunk.length
        if (received >= bytes && !res.isPaused() && stalled === false) {
          stalled = true
          res.pause()
        }
      })
      res.on('end', () => resolve(received))
      res.on('error', reject)
    })
    request.on('error', reject)
    request.end()
  })
  let stalled = false
  while (!stalled) await sleep(10)
  return {
    received: () => received,
    resume: () => response?.resume(),
    done,
  }
}

t.test('a client that stops reading stops the reading of the database', async (t) => {
  // About 2 KB a customer (500 four-byte characters), so kernel socket buffers (a few MB at
  // most on loopback) hold a few thousand customers' lines, not the whole 18 MB export.
  const count = 10_000
  await seed(SLOW_BUSINESS, count, '🏠'.repeat(500))
  const { app } = await build(t)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as AddressInfo
  const exported = async () => {
    const metrics = await app.inject({ method: 'GET', url: '/metrics' })
    const match = /customers_exported_total\{format="csv"\} (\d+)/.exec(metrics.body)
    return Number(match?.[1] ?? 0)
  }
  const download = await stalledDownload(
    `http://127.0.0.1:${port}/api/customers/${SLOW_BUSINESS}/export?is_active=true`,
    authFor(SLOW_BUSINESS),
    64 * 1024,
  )
  // Until the reading settles: a server without backpressure would read all 9 batches here.
  let read = await exported()
  for (let quiet = 0; quiet < 10;) {
    await sleep(100)
    const now = await exported()
    quiet = now === read ? quiet + 1 : 0
    read = now
  }
  const active = count * 0.9
  t.ok(download.received() < 1024 * 1024, `the client stalled early (${download.received()} bytes)`)
  t.ok(
    read * 2 * 1024 <= IN_FLIGHT_BYTES + EXPORT_BATCH_SIZE * 2 * 1024,
    `while it waits, only what the buffers hold and one batch were read (${read} of ${active} customers)`,
  )
  download.resume()
  const total = await download.done
  t.equal(await exported(), active, 'once it reads again, every customer is read')
  t.ok(total > active * 2000, `and sent (${total} bytes)`)
})
