import { sql } from 'kysely'
import t from 'tap'
import type { DatabaseConnection } from '../../../../db/connect.js'
import { enqueue } from '../../../../db/job-queue.js'
import type { CustomerCreated } from '../../../../generated/schemas/CustomerCreated.js'
import { purgeExpiredKeys } from '../../../../services/idempotency.js'
import { authFor, bearer, build, fileServer, tokenFor, type TestServer } from '../../../helper.js'

type Db = DatabaseConnection['db']
type Inject = TestServer['inject']

const WANJIRU = { name: 'Wanjiru Kamau', phone: '0712 345 678', customer_type: 'regular' }

async function customerCount(db: Db, businessId: number): Promise<number> {
  const row = await db
    .selectFrom('customers')
    .select((eb) => eb.fn.countAll<number>().as('count'))
    .where('business_id', '=', businessId)
    .executeTakeFirstOrThrow()
  return Number(row.count)
}

async function keyCount(db: Db, businessId: number): Promise<number> {
  const row = await db
    .selectFrom('idempotency_keys')
    .select((eb) => eb.fn.countAll<number>().as('count'))
    .where('business_id', '=', businessId)
    .executeTakeFirstOrThrow()
  return Number(row.count)
}

function create(
  inject: Inject,
  businessId: number,
  key: string | undefined,
  payload: unknown,
  headers: Record<string, string> = authFor(businessId),
) {
  return inject({
    method: 'POST',
    url: `/api/customers/${businessId}`,
    headers: {
      ...headers,
      'content-type': 'application/json',
      ...(key === undefined ? {} : { 'idempotency-key': key }),
    },
    payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
  })
}

t.test(
  'a repeated create gets the first answer, marked as replayed, and creates nothing',
  async (t) => {
    const { inject, database } = await fileServer(t)
    const first = await create(inject, 1301, 'create-1', WANJIRU)
    t.equal(first.statusCode, 201, 'first: status')
    t.equal(first.headers['idempotent-replayed'], undefined, 'first: not a replay')
    const customer = first.json<CustomerCreated>().customer

    // The same body with its keys in another order and other spacing is the same request.
    const again = await create(
      inject,
      1301,
      'create-1',
      '{ "customer_type": "regular",\n  "phone": "0712 345 678", "name": "Wanjiru Kamau" }',
    )
    t.equal(again.statusCode, 201, 'repeat: the same status')
    t.equal(again.body, first.body, 'repeat: the identical body')
    t.equal(again.headers['idempotent-replayed'], 'true', 'repeat: Idempotent-Replayed')
    t.equal(again.headers.etag, first.headers.etag, 'repeat: the same ETag')

    const trailingSlash = await inject({
      method: 'POST',
      url: '/api/customers/1301/',
      headers: { ...authFor(1301), 'idempotency-key': 'create-1' },
      payload: WANJIRU,
    })
    t.equal(trailingSlash.statusCode, 201, 'with a trailing slash: the same path')
    t.equal(trailingSlash.headers['idempotent-replayed'], 'true', 'with a trailing slash: replayed')

    t.equal(await customerCount(database.db, 1301), 1, 'one customer in the database')
    t.equal(await keyCount(database.db, 1301), 1, 'one stored key')
    t.equal(customer.version, 1, 'the customer is at version 1')
  },
)

t.test('every write replays its answer and has its effect once', async (t) => {
  const { inject, database } = await fileServer(t)
  const created = await create(inject, 1302, undefined, WANJIRU)
  const id = created.json<CustomerCreated>().customer.id
  const writes = [
    {
      name: 'update',
      method: 'PATCH' as const,
      url: `/api/customers/1302/${id}`,
      payload: { customer_type: 'vip' },
      status: 200,
    },
    {
      name: 'preferences',
      method: 'PATCH' as const,
      url: `/api/customers/1302/${id}/preferences`,
      payload: { preferred_payment: 'mpesa' },
      status: 200,
    },
    {
      name: 'note',
      method: 'POST' as const,
      url: `/api/customers/1302/${id}/notes`,
      payload: { content: 'Prefers M-Pesa' },
      status: 201,
    },
    {
      name: 'delete',
      method: 'DELETE' as const,
      url: `/api/customers/1302/${id}`,
      payload: undefined,
      status: 200,
    },
  ]
  for (const write of writes) {
    const send = () =>
      inject({
        method: write.method,
        url: write.url,
        headers: { ...authFor(1302), 'idempotency-key': `write-${write.name}` },
        ...(write.payload === undefined ? {} : { payload: write.payload }),
      })
    const first = await send()
    t.equal(first.statusCode, write.status, `${write.name}: status`)
    const again = await send()
    t.equal(again.statusCode, write.status, `${write.name}: repeat status`)
    t.equal(again.body, first.body, `${write.name}: repeat body`)
    t.equal(again.headers['idempotent-replayed'], 'true', `${write.name}: replayed`)
  }
  const version = await database.db
    .selectFrom('customers')
    .select('version')
    .where('business_id', '=', 1302)
    .where('id', '=', id)
    .executeTakeFirstOrThrow()
  t.equal(version.version, 4, 'update, preferences and delete each added one, once')
  const notes = await database.db
    .selectFrom('customer_notes')
    .select('id')
    .where('business_id', '=', 1302)
    .where('customer_id', '=', id)
    .execute()
  t.equal(notes.length, 1, 'one note')
})

t.test('the same key with another body, path or method is a 422 and changes nothing', async (t) => {
  const { inject, database } = await fileServer(t)
  const first = await create(inject, 1303, 'reused', WANJIRU)
  t.equal(first.statusCode, 201, 'first: status')
  const id = first.json<CustomerCreated>().customer.id
  const cases = [
    {
      name: 'another body',
      method: 'POST' as const,
      url: '/api/customers/1303',
      body: { name: 'Otieno' },
    },
    {
      name: 'another path',
      method: 'PATCH' as const,
      url: `/api/customers/1303/${id}`,
      body: { name: 'Otieno' },
    },
    { name: 'another method', method: 'DELETE' as const, url: `/api/customers/1303/${id}` },
    {
      name: 'another path (notes)',
      method: 'POST' as const,
      url: `/api/customers/1303/${id}/notes`,
      body: { content: 'x' },
    },
  ]
  for (const reuse of cases) {
    const response = await inject({
      method: reuse.method,
      url: reuse.url,
      headers: { ...authFor(1303), 'idempotency-key': 'reused' },
      ...(reuse.body ? { payload: reuse.body } : {}),
    })
    t.equal(response.statusCode, 422, `${reuse.name}: status`)
    t.match(response.json(), { error: 'Idempotency key reused' }, `${reuse.name}: body`)
  }
  t.equal(await customerCount(database.db, 1303), 1, 'still one customer')
  const stored = await database.db
    .selectFrom('customers')
    .select(['name', 'is_active', 'version'])
    .where('business_id', '=', 1303)
    .executeTakeFirstOrThrow()
  t.same(stored, { name: 'Wanjiru Kamau', is_active: true, version: 1 }, 'the customer unchanged')
})

t.test('keys are per user and per business', async (t) => {
  const { inject, database } = await fileServer(t)
  const userOne = bearer(tokenFor({ sub: 1, businesses: [1304, 1305] }))
  const userTwo = bearer(tokenFor({ sub: 2, businesses: [1304] }))
  const one = await create(inject, 1304, 'shared-key', WANJIRU, userOne)
  const two = await create(inject, 1304, 'shared-key', WANJIRU, userTwo)
  const otherBusiness = await create(inject, 1305, 'shared-key', WANJIRU, userOne)
  for (const [name, response] of [
    ['user 1', one],
    ['user 2', two],
    ['user 1, another business', otherBusiness],
  ] as const) {
    t.equal(response.statusCode, 201, `${name}: status`)
    t.equal(response.headers['idempotent-replayed'], undefined, `${name}: ran, not replayed`)
  }
  t.not(one.json<CustomerCreated>().customer.id, two.json<CustomerCreated>().customer.id)
  t.equal(await customerCount(database.db, 1304), 2, 'two customers in business 1304')
  t.equal(await customerCount(database.db, 1305), 1, 'one customer in business 1305')
})

t.test('answers that did not run are not stored: a retry with the key runs', async (t) => {
  const { inject, database } = await fileServer(t)
  const refusals: { name: string; status: number; send: () => ReturnType<Inject> }[] = [
    {
      name: '400 (schema)',
      status: 400,
      send: () => create(inject, 1306, 'k-400', { phone: '0712 345 678' }),
    },
    {
      name: '400 (service: not a phone number)',
      status: 400,
      send: () => create(inject, 1306, 'k-400-service', { name: 'A', phone: '12' }),
    },
    {
      name: '401',
      status: 401,
      send: () => create(inject, 1306, 'k-401', WANJIRU, {}),
    },
    {
      name: '403',
      status: 403,
      send: () => create(inject, 1306, 'k-403', WANJIRU, authFor(9999)),
    },
    {
      name: '413',
      status: 413,
      send: () => create(inject, 1306, 'k-413', { name: 'A', address: 'x'.repeat(70_000) }),
    },
    {
      name: '415',
      status: 415,
      send: () =>
        inject({
          method: 'POST',
          url: '/api/customers/1306',
          headers: { ...authFor(1306), 'content-type': 'text/plain', 'idempotency-key': 'k-415' },
          payload: 'Wanjiru',
        }),
    },
  ]
  for (const refusal of refusals) {
    const refused = await refusal.send()
    t.equal(refused.statusCode, refusal.status, `${refusal.name}: status`)
  }
  t.equal(await keyCount(database.db, 1306), 0, 'no key stored')
  const keys = ['k-400', 'k-400-service', 'k-401', 'k-403', 'k-413', 'k-415']
  for (const key of keys) {
    const retry = await create(inject, 1306, key, { name: `Retry ${key}` })
    t.equal(retry.statusCode, 201, `${key}: the retry ran`)
    t.equal(retry.headers['idempotent-replayed'], undefined, `${key}: not a replay`)
  }
  t.equal(await customerCount(database.db, 1306), keys.length, 'one customer per retry')
})

t.test('a 500 is not stored and leaves nothing behind: the retry runs', async (t) => {
  const { inject, database } = await fileServer(t)
  // The last insert of the create fails, for this business only.
  await sql`create function payme_test_refuse_history_1313() returns trigger language plpgsql
    as $$ begin raise exception 'refused by test'; end $$`.execute(database.db)
  await sql`create trigger payme_test_refuse_history_1313 before insert
    on customer_purchase_history for each row when (new.business_id = 1313)
    execute function payme_test_refuse_history_1313()`.execute(database.db)
  let dropped = false
  async function dropTrigger(): Promise<void> {
    if (dropped) return
    dropped = true
    await sql`drop trigger payme_test_refuse_history_1313 on customer_purchase_history`.execute(
      database.db,
    )
    await sql`drop function payme_test_refuse_history_1313()`.execute(database.db)
  }
  t.teardown(dropTrigger)

  const failed = await create(inject, 1313, 'k-500', WANJIRU)
  t.equal(failed.statusCode, 500, 'the create failed')
  t.equal(await customerCount(database.db, 1313), 0, 'no customer')
  t.equal(await keyCount(database.db, 1313), 0, 'no key stored')
  await dropTrigger()
  const retry = await create(inject, 1313, 'k-500', WANJIRU)
  t.equal(retry.statusCode, 201, 'the retry ran')
  t.equal(retry.headers['idempotent-replayed'], undefined, 'not a replay')
  t.equal(await customerCount(database.db, 1313), 1, 'one customer')
})

t.test('a 429 is not stored: the retry runs', async (t) => {
  const limited = await build(t, { config: { rateLimitMax: 1 } })
  const spend = await limited.inject({
    method: 'GET',
    url: '/api/customers/1307',
    headers: authFor(1307),
  })
  t.equal(spend.statusCode, 200, 'the one request of the minute')
  const refused = await create(limited.inject, 1307, 'k-429', WANJIRU)
  t.equal(refused.statusCode, 429, 'rate limited')
  // Another instance, with its own limiter, on the same database.
  const { inject, database } = await fileServer(t)
  const retry = await create(inject, 1307, 'k-429', WANJIRU)
  t.equal(retry.statusCode, 201, 'the retry ran')
  t.equal(retry.headers['idempotent-replayed'], undefined, 'not a replay')
  t.equal(await customerCount(database.db, 1307), 1, 'one customer')
})

t.test('404 and 412 answers are stored and replayed', async (t) => {
  const { inject } = await fileServer(t)
  const missing = () =>
    inject({
      method: 'PATCH',
      url: '/api/customers/1308/999999',
      headers: { ...authFor(1308), 'idempotency-key': 'k-404' },
      payload: { name: 'Nobody' },
    })
  const first404 = await missing()
  t.equal(first404.statusCode, 404, '404')
  const again404 = await missing()
  t.equal(again404.statusCode, 404, '404 replayed')
  t.equal(again404.body, first404.body, '404: the identical body')
  t.equal(again404.headers['idempotent-replayed'], 'true', '404: replayed')

  const created = await create(inject, 1308, undefined, WANJIRU)
  const id = created.json<CustomerCreated>().customer.id
  const stale = () =>
    inject({
      method: 'PATCH',
      url: `/api/customers/1308/${id}`,
      headers: { ...authFor(1308), 'idempotency-key': 'k-412', 'if-match': '"7"' },
      payload: { name: 'Changed' },
    })
  const first412 = await stale()
  t.equal(first412.statusCode, 412, '412')
  t.equal(first412.headers.etag, '"1"', '412: the current ETag')
  const again412 = await stale()
  t.equal(again412.statusCode, 412, '412 replayed')
  t.equal(again412.body, first412.body, '412: the identical body')
  t.equal(again412.headers.etag, '"1"', '412 replayed: the ETag')
  t.equal(again412.headers['idempotent-replayed'], 'true', '412: replayed')
})

t.test('a malformed key is a 400 naming the header, and nothing is created', async (t) => {
  const { inject, database } = await fileServer(t)
  const keys: [string, string][] = [
    ['empty', ''],
    ['256 characters', 'k'.repeat(256)],
    ['non-ASCII', 'clé-1'],
    ['a control character', 'key\u0001one'],
    ['a tab', 'key\tone'],
    ['a space at the end', 'key '],
  ]
  for (const [name, key] of keys) {
    const response = await create(inject, 1309, key, WANJIRU)
    t.equal(response.statusCode, 400, `${name}: status`)
    t.match(
      response.json(),
      { error: 'Validation failed', details: [{ path: 'idempotency-key' }] },
      `${name}: the detail names the header`,
    )
  }
  const longest = await create(inject, 1309, 'k'.repeat(255), WANJIRU)
  t.equal(longest.statusCode, 201, '255 characters are a key')
  const spaced = await create(inject, 1309, 'order 7 / till 2', { name: 'Spaced' })
  t.equal(spaced.statusCode, 201, 'inner spaces are allowed')
  t.equal(await customerCount(database.db, 1309), 2, 'only the two valid requests created')
})

async function ageKeys(db: Db, businessId: number, keys: string[], hours: number): Promise<void> {
  await db
    .updateTable('idempotency_keys')
    .set({ created_at: sql`now() - make_interval(hours => ${hours})` })
    .where('business_id', '=', businessId)
    .where('key', 'in', keys)
    .execute()
}

t.test('expired keys are purged, in batches, and fresh ones kept', async (t) => {
  const { inject, database } = await fileServer(t)
  const keys = ['p-1', 'p-2', 'p-3', 'p-4', 'p-5', 'p-6', 'p-7']
  for (const key of keys) {
    t.equal((await create(inject, 1310, key, { name: key })).statusCode, 201, `${key}: created`)
  }
  await ageKeys(database.db, 1310, ['p-1', 'p-2', 'p-3', 'p-4', 'p-5'], 25)
  await ageKeys(database.db, 1310, ['p-6'], 23)
  const purged = await purgeExpiredKeys(database.db, { batchSize: 2, maxBatches: 10 })
  t.ok(purged >= 5, 'the five expired keys were deleted (and any other expired ones)')
  const left = await database.db
    .selectFrom('idempotency_keys')
    .select('key')
    .where('business_id', '=', 1310)
    .orderBy('key')
    .execute()
  t.same(
    left.map((row) => row.key),
    ['p-6', 'p-7'],
    'the keys younger than 24 hours remain',
  )
})

// The purge runs as the job queue's `purge-idempotency-keys` job (jobs/); the test above calls
// the service it runs, with small batches. Here the queue runs it, on an app with workers.
t.test('the job queue purges expired keys: scheduled every minute, run by a worker', async (t) => {
  const { inject, database } = await build(t, { config: { workers: true } })
  for (const key of ['q-1', 'q-2']) {
    t.equal((await create(inject, 1314, key, { name: key })).statusCode, 201, `${key}: created`)
  }
  await ageKeys(database.db, 1314, ['q-1'], 25)
  const { rows: schedules } = await sql<{ cron: string; timezone: string }>`select cron, timezone
    from pgboss.schedule where name = 'purge-idempotency-keys'`.execute(database.db)
  t.strictSame(schedules, [{ cron: '* * * * *', timezone: 'UTC' }], 'scheduled every minute')
  // Not waiting up to a minute for the schedule: the same job, sent now.
  await database.db.transaction().execute((trx) => enqueue(trx, 'purge-idempotency-keys', {}))
  let left: string[] = []
  for (let waited = 0; waited < 20_000; waited += 250) {
    left = (
      await database.db
        .selectFrom('idempotency_keys')
        .select('key')
        .where('business_id', '=', 1314)
        .orderBy('key')
        .execute()
    ).map((row) => row.key)
    if (!left.includes('q-1')) break
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
  t.strictSame(left, ['q-2'], 'the expired key was purged, the fresh one kept')
})

t.test('a key past 24 hours runs again even before the purge', async (t) => {
  const { inject, database } = await fileServer(t)
  t.equal((await create(inject, 1311, 'old', WANJIRU)).statusCode, 201, 'first')
  await ageKeys(database.db, 1311, ['old'], 25)
  const again = await create(inject, 1311, 'old', WANJIRU)
  t.equal(again.statusCode, 201, 'ran again')
  t.equal(again.headers['idempotent-replayed'], undefined, 'not a replay')
  t.equal(await customerCount(database.db, 1311), 2, 'a second customer')
  const replay = await create(inject, 1311, 'old', WANJIRU)
  t.equal(replay.headers['idempotent-replayed'], 'true', 'and the new answer is replayed')
})

t.test('writes without a key behave as before', async (t) => {
  const { inject, database } = await fileServer(t)
  const one = await create(inject, 1312, undefined, WANJIRU)
  const two = await create(inject, 1312, undefined, WANJIRU)
  t.equal(one.statusCode, 201)
  t.equal(two.statusCode, 201)
  t.equal(two.headers['idempotent-replayed'], undefined, 'never a replay')
  t.equal(await customerCount(database.db, 1312), 2, 'two customers')
  t.equal(await keyCount(database.db, 1312), 0, 'no key stored')
})
