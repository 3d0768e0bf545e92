import { sql } from 'kysely'
import t, { type Test } from 'tap'
import type { Event } from '../../../../generated/schemas/Event.js'
import type { EventsPage } from '../../../../generated/schemas/EventsPage.js'
import {
  authFor,
  bearer,
  fileServer,
  onPostgres,
  secondConnection,
  tokenFor,
  type TestServer,
} from '../../../helper.js'
import { postEvent } from '../../../sales-feed.js'
import { assertEventsHoldNone, assertValidationFailed } from '../../../support/assertions.js'
import { customerAsEventData } from '../../../support/customers.js'
import { importFile } from '../../../support/imports.js'

type Inject = TestServer['inject']

const server: TestServer = await fileServer(t)
const { inject } = server
const { db } = server.database

async function write(
  method: 'POST' | 'PATCH' | 'DELETE',
  url: string,
  business: number,
  payload?: object,
  headers: Record<string, string> = {},
) {
  const response = await inject({
    method,
    url: `/api/customers/${business}${url}`,
    headers: { ...bearer(tokenFor({ sub: 1, businesses: [business] })), ...headers },
    ...(payload ? { payload } : {}),
  })
  if (response.statusCode >= 300) throw new Error(`${method} ${url}: ${response.body}`)
  return response
}

async function page(business: number, query = '', target: Inject = inject) {
  return target({
    method: 'GET',
    url: `/api/customers/${business}/events${query}`,
    headers: authFor(business),
  })
}

/** Every event of the business from `after` on, page by page (`limit` each), and the last next. */
async function feed(business: number, after?: string, limit = 1000) {
  const events: Event[] = []
  let next = after
  for (;;) {
    const query = new URLSearchParams({ limit: String(limit), ...(next ? { after: next } : {}) })
    const response = await page(business, `?${query}`)
    if (response.statusCode !== 200) throw new Error(`feed: ${response.body}`)
    const body = response.json<EventsPage>()
    events.push(...body.events)
    next = body.next
    if (body.events.length < limit) return { events, next }
  }
}

/** Remembers where the feed ends; `since()` then returns exactly what was added after. */
async function mark(business: number) {
  const { next } = await feed(business)
  return { since: async () => (await feed(business, next)).events }
}

const shown = (business: number, id: number) => customerAsEventData(inject, business, id)

function sale(business: number, customer: number | null, key: string, total = '1500.00') {
  return postEvent(inject, {
    id: `events-${key}`,
    type: 'sale.completed',
    created_at: new Date().toISOString(),
    data: {
      sale_id: `EV-${key}`,
      business_id: business,
      customer_id: customer,
      total_amount: total,
      items_count: 2,
      payment_method: 'mpesa',
      completed_at: '2026-11-30T10:00:00.000Z',
    },
  })
}

/** One event, of `type`, about `customer`, whose data is the customer as shown now. */
async function oneEvent(
  t: Test,
  events: Event[],
  business: number,
  customer: number,
  type: Event['type'],
  name: string,
) {
  t.same(
    events.map((event) => [event.type, event.customer_id]),
    [[type, customer]],
    `${name}: one ${type}`,
  )
  const [event] = events
  if (!event) return
  t.equal(event.business_id, business, `${name}: the business`)
  t.same(event.data, await shown(business, customer), `${name}: data is the customer as shown`)
}

t.test('every write path makes exactly one event of its type, data as shown', async (t) => {
  const business = 3101
  let at = await mark(business)
  const created = await write('POST', '', business, {
    name: 'Achieng Odhiambo',
    phone: '0712 000 301',
    customer_type: 'regular',
  })
  const id = created.json().customer.id as number
  await oneEvent(t, await at.since(), business, id, 'customer.created', 'create')

  const steps: [string, () => Promise<unknown>, Event['type']][] = [
    [
      'patch',
      () => write('PATCH', `/${id}`, business, { customer_type: 'vip' }),
      'customer.updated',
    ],
    [
      'patch of flags',
      () => write('PATCH', `/${id}`, business, { prefer_email: true }),
      'customer.updated',
    ],
    [
      'preferences',
      () =>
        write('PATCH', `/${id}/preferences`, business, {
          favorite_products: [3, 1],
          can_receive_offers: false,
        }),
      'customer.updated',
    ],
    [
      'a consent',
      () =>
        write('POST', `/${id}/consents`, business, {
          channel: 'whatsapp',
          purpose: 'marketing',
          status: 'granted',
          source: 'in_store',
        }),
      'consent.changed',
    ],
    [
      'a write that moves nothing',
      () => write('PATCH', `/${id}`, business, { customer_type: 'vip' }),
      'customer.updated',
    ],
    ['delete', () => write('DELETE', `/${id}`, business), 'customer.deleted'],
    ['a repeated delete', () => write('DELETE', `/${id}`, business), 'customer.deleted'],
    [
      'reactivation',
      () => write('PATCH', `/${id}`, business, { is_active: true }),
      'customer.reactivated',
    ],
    ['a sale', () => sale(business, id, `${business}-1`), 'purchase_history.updated'],
    [
      'a refund',
      () =>
        postEvent(inject, {
          id: `events-${business}-1-r`,
          type: 'sale.refunded',
          created_at: new Date().toISOString(),
          data: {
            sale_id: `EV-${business}-1`,
            business_id: business,
            customer_id: id,
            refund_amount: '500.00',
          },
        }),
      'purchase_history.updated',
    ],
  ]
  for (const [name, step, type] of steps) {
    at = await mark(business)
    await step()
    await oneEvent(t, await at.since(), business, id, type, name)
  }

  at = await mark(business)
  await write('POST', `/${id}/notes`, business, { content: 'Prefers morning deliveries' })
  await sale(business, id, `${business}-1`)
  const refused = await inject({
    method: 'PATCH',
    url: `/api/customers/${business}/${id}`,
    headers: authFor(business),
    payload: { email: 'not an e-mail' },
  })
  t.equal(refused.statusCode, 400, 'a refused write')
  t.same(await at.since(), [], 'a note, a redelivered sale and a refused write make no event')

  const key = { 'idempotency-key': `events-${business}-replay` }
  at = await mark(business)
  const first = await write('PATCH', `/${id}`, business, { address: 'Moi Avenue 1' }, key)
  const replay = await write('PATCH', `/${id}`, business, { address: 'Moi Avenue 1' }, key)
  t.equal(replay.body, first.body, 'the replay answers as the first')
  t.equal((await at.since()).length, 1, 'an idempotent replay makes no second event')
})

t.test('a sale before its customer: attribution is part of the creation', async (t) => {
  const business = 3102
  const waiting = await postEvent(inject, {
    id: `events-${business}-payer`,
    type: 'sale.completed',
    created_at: new Date().toISOString(),
    data: {
      sale_id: `EV-${business}-payer`,
      business_id: business,
      customer_id: null,
      payer: { phone: '0712 000 302' },
      total_amount: '800.00',
      items_count: 1,
      payment_method: 'mpesa',
      completed_at: '2026-11-30T10:00:00.000Z',
    },
  })
  t.equal(waiting.json().status, 'unattributed', 'the sale waits for its payer')
  const at = await mark(business)
  const id = (await write('POST', '', business, { name: 'Payer', phone: '+254712000302' })).json()
    .customer.id as number
  const events = await at.since()
  await oneEvent(t, events, business, id, 'customer.created', 'create with a waiting sale')
  t.equal(
    (events[0]?.data.history as { total_spent: string }).total_spent,
    '800.00',
    'its data holds the attached sale',
  )
})

t.test('merge and undo: one event per customer, merged then unmerged', async (t) => {
  const business = 3103
  const target = (await write('POST', '', business, { name: 'Juma Ali' })).json().customer
    .id as number
  const source = (
    await write('POST', '', business, { name: 'Juma Ali', email: 'juma@example.co.ke' })
  ).json().customer.id as number
  await sale(business, source, `${business}-s`)
  let at = await mark(business)
  const merged = await write('POST', `/${target}/merge`, business, { source_ids: [source] })
  let events = await at.since()
  t.same(
    events.map((event) => [event.type, event.customer_id]).sort(),
    [
      ['customer.merged', target],
      ['customer.merged', source],
    ].sort(),
    'merge: the target and the source',
  )
  for (const event of events) {
    t.same(
      event.data,
      await shown(business, event.customer_id),
      `merge: data of ${event.customer_id}`,
    )
  }
  at = await mark(business)
  await write('POST', `/merges/${merged.json().merge.id as number}/undo`, business)
  events = await at.since()
  t.same(
    events.map((event) => [event.type, event.customer_id]).sort(),
    [
      ['customer.unmerged', target],
      ['customer.unmerged', source],
    ].sort(),
    'undo: the target and the source',
  )
})

t.test(
  'a history change and its average spend: one event, whichever is written first',
  async (t) => {
    const business = 3120
    const id = (await write('POST', '', business, { name: 'Order Either-Way' })).json().customer
      .id as number
    const moveHistory = sql`update customer_purchase_history
    set total_purchases = total_purchases + 1, total_spent = total_spent + 100, updated_at = now()
    where business_id = ${business} and customer_id = ${id}`
    const moveAverage = sql`update customer_preferences
    set average_spend = average_spend + 1, updated_at = now()
    where business_id = ${business} and customer_id = ${id}`
    for (const [name, first, second] of [
      ['history first', moveHistory, moveAverage],
      ['average spend first', moveAverage, moveHistory],
    ] as const) {
      const at = await mark(business)
      await db.transaction().execute(async (trx) => {
        await first.execute(trx)
        await second.execute(trx)
      })
      await oneEvent(t, await at.since(), business, id, 'purchase_history.updated', name)
    }
    const at = await mark(business)
    await db.transaction().execute(async (trx) => {
      await moveAverage.execute(trx)
      await sql`update customers set name = 'Order Renamed', updated_at = now()
      where business_id = ${business} and id = ${id}`.execute(trx)
      await moveHistory.execute(trx)
    })
    await oneEvent(t, await at.since(), business, id, 'customer.updated', 'and a change of name')
  },
)

t.test('erasure: its event and every earlier one hold no personal data', async (t) => {
  const business = 3104
  const person = {
    name: 'Zawadi Events-Kiptoo',
    phone: '0799 123 458',
    email: 'zawadi.events@example.co.ke',
    address: 'Plot 78 Feed Lane',
  }
  const id = (await write('POST', '', business, person)).json().customer.id as number
  await write('PATCH', `/${id}/preferences`, business, { best_contact_time: 'Mornings at 6' })
  await sale(business, id, `${business}-1`)
  const at = await mark(business)
  await write('POST', `/${id}/erase`, business, { reason: 'The customer asked' })
  await oneEvent(t, await at.since(), business, id, 'customer.erased', 'erasure')
  await sale(business, id, `${business}-2`, '200.00')
  const { events } = await feed(business)
  t.same(
    events.map((event) => event.type),
    [
      'customer.created',
      'customer.updated',
      'purchase_history.updated',
      'customer.erased',
      'purchase_history.updated',
    ],
    'the feed keeps every event',
  )
  assertEventsHoldNone(t, events, [
    person.name,
    '+254799123458',
    person.email,
    person.address,
    'Mornings at 6',
  ])
  t.equal(
    (events[2]?.data.history as { total_spent: string }).total_spent,
    '1500.00',
    'what is not personal stays as it was',
  )
})

t.test('an import: one event per customer created or updated, none for a dry run', async (t) => {
  const business = 3105
  const headers = authFor(business)
  let at = await mark(business)
  const csv = 'name,phone\r\nAmina,0712000311\r\nBaraka,0712000312\r\nNo phone,bad\r\n'
  await importFile(server, business, headers, csv, '?dry_run=true')
  t.same(await at.since(), [], 'a dry run: none')
  const done = await importFile(server, business, headers, csv)
  t.equal(done.created, 2, 'two created')
  const created = await at.since()
  t.same(
    created.map((event) => [event.type, event.data.name]),
    [
      ['customer.created', 'Amina'],
      ['customer.created', 'Baraka'],
    ],
    'one customer.created each',
  )
  at = await mark(business)
  await importFile(
    server,
    business,
    headers,
    'name,phone,customer_type\r\nAmina,0712000311,vip\r\nBaraka,0712000312,walk_in\r\n',
    '?mode=upsert',
  )
  t.same(
    (await at.since()).map((event) => [event.type, event.data.name, event.data.customer_type]),
    [['customer.updated', 'Amina', 'vip']],
    'upsert: an event for the row that changed, none for the skipped one',
  )
})

t.test('paging: next never null, limits, cursors bound to the business', async (t) => {
  const business = 3106
  const empty = await page(business)
  t.equal(empty.statusCode, 200, 'an empty feed answers')
  const start = empty.json<EventsPage>()
  t.same(start.events, [], 'no events yet')
  t.type(start.next, 'string', 'next is a cursor even at the start')
  for (let n = 0; n < 5; n += 1) await write('POST', '', business, { name: `Page ${n}` })
  const { events: all } = await feed(business, start.next)
  t.equal(all.length, 5, 'resuming from the empty feed gives everything after it')
  const paged = await feed(business, undefined, 2)
  t.same(
    paged.events.map((event) => event.id),
    all.map((event) => event.id),
    'pages of 2: the same events, in the same order, none twice',
  )
  const atEnd = await page(business, `?after=${paged.next}`)
  t.same(atEnd.json<EventsPage>().events, [], 'after the end: nothing')
  t.equal(atEnd.json<EventsPage>().next, paged.next, 'and the same place to resume')
  t.equal((await page(business, '?limit=1000')).json<EventsPage>().events.length, 5, 'limit 1000')
  for (const [query, field] of [
    ['?limit=0', 'limit'],
    ['?limit=1001', 'limit'],
    ['?limit=x', 'limit'],
    ['?after=', 'after'],
    ['?after=not-a-cursor', 'after'],
    [`?after=${paged.next}x`, 'after'],
  ] as const) {
    assertValidationFailed(t, await page(business, query), field, query)
  }
  const other = await page(3107, `?after=${paged.next}`)
  assertValidationFailed(t, other, 'after', "another business's cursor")
})

t.test('tenancy: only the business the token grants', async (t) => {
  const business = 3108
  await write('POST', '', business, { name: 'Tenant' })
  const foreign = await inject({
    method: 'GET',
    url: `/api/customers/${business}/events`,
    headers: authFor(business + 1),
  })
  t.equal(foreign.statusCode, 403, "another business's token: 403")
  const anonymous = await inject({ method: 'GET', url: `/api/customers/${business}/events` })
  t.equal(anonymous.statusCode, 401, 'no token: 401')
  t.same(
    (await page(business + 1)).json<EventsPage>().events,
    [],
    "a business sees none of another's events",
  )
})

t.test(
  'the feed never repeats or skips under 20 concurrent writers and a fast reader',
  async (t) => {
    // PGlite has one connection: there its transactions take turns, and the test still holds.
    t.comment(onPostgres() ? 'writers: a pool of 25 on PostgreSQL' : 'writers: embedded PGlite')
    const business = 3109
    const customers: number[] = []
    for (let n = 0; n < 20; n += 1) {
      customers.push(
        (await write('POST', '', business, { name: `Writer ${n}` })).json().customer.id as number,
      )
    }
    const start = (await feed(business)).next
    const writers = onPostgres() ? await secondConnection(25) : server.database
    if (onPostgres()) t.teardown(() => writers.close())
    for (let round = 1; round <= 3; round += 1) {
      let writing = true
      const read: Event[] = []
      let next = start
      const reader = (async () => {
        // As fast as it can, until the writers are done and a last page comes back short.
        for (let drained = false; !drained;) {
          const done = !writing
          const body = (await page(business, `?limit=50&after=${next}`)).json<EventsPage>()
          read.push(...body.events)
          next = body.next
          drained = done && body.events.length < 50
        }
      })()
      // Each transaction takes its id at its first write and commits a random while later, so
      // later transactions often commit first.
      await Promise.all(
        customers.map(async (id, writer) => {
          for (let n = 0; n < 15; n += 1) {
            await writers.db.transaction().execute(async (trx) => {
              await sql`update customers set name = ${`Writer ${writer} round ${round} n ${n}`},
                version = version + 1 where business_id = ${business} and id = ${id}`.execute(trx)
              await sql`select pg_sleep(${Math.random() * 0.02})`.execute(trx)
            })
          }
        }),
      )
      writing = false
      await reader
      const { rows } = await sql<{ id: number }>`select id from customer_events
        where business_id = ${business} order by position`.execute(db)
      const ids = read.map((event) => event.id)
      const committed = rows.map((row) => row.id)
      const readSince = committed.slice(committed.indexOf(ids[0] ?? -1))
      t.equal(new Set(ids).size, ids.length, `round ${round}: no event read twice`)
      t.equal(ids.length, 20 * 15 * round, `round ${round}: every write read (${ids.length})`)
      t.same(ids, readSince, `round ${round}: in feed order, none skipped`)
    }
  },
)
