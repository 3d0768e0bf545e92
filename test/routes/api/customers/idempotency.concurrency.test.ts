import t from 'tap'
import { twoInstances } from '../../../support/instances.js'
import type { CustomerCreated } from '../../../../generated/schemas/CustomerCreated.js'
import { requestFingerprint } from '../../../../lib/request-fingerprint.js'
import {
  abandonIdempotentRequest,
  beginIdempotentRequest,
} from '../../../../services/idempotency.js'
import { authFor, build, onPostgres, secondConnection, testDatabase } from '../../../helper.js'

const BUSINESS = 1501

t.test(
  '20 creates with one key at once, through two instances: one customer, one 201, the rest replays or 409',
  async (t) => {
    const { database, first, second } = await twoInstances(t)

    const send = (index: number) =>
      (index % 2 === 0 ? first : second).inject({
        method: 'POST',
        url: `/api/customers/${BUSINESS}`,
        headers: { ...authFor(BUSINESS), 'idempotency-key': 'one-tap' },
        payload: { name: 'Kamau Njoroge', phone: '0722 000 111' },
      })
    const responses = await Promise.all(Array.from({ length: 20 }, (_, index) => send(index)))

    const ran = responses.filter(
      (response) => response.statusCode === 201 && !response.headers['idempotent-replayed'],
    )
    const replayed = responses.filter(
      (response) =>
        response.statusCode === 201 && response.headers['idempotent-replayed'] === 'true',
    )
    const inProgress = responses.filter((response) => response.statusCode === 409)
    t.comment(`201: ${ran.length}, replays: ${replayed.length}, 409: ${inProgress.length}`)
    t.equal(ran.length, 1, 'exactly one request ran')
    t.equal(
      ran.length + replayed.length + inProgress.length,
      20,
      'every other one a replay or a 409',
    )
    for (const response of replayed) {
      t.equal(response.body, ran[0]?.body, 'a replay carries the first answer')
    }
    for (const response of inProgress) {
      t.equal(response.headers['retry-after'], '1', '409: Retry-After: 1')
      t.match(response.json(), { error: 'Request in progress' }, '409: body')
    }

    const customers = await database.db
      .selectFrom('customers')
      .select('id')
      .where('business_id', '=', BUSINESS)
      .execute()
    t.equal(customers.length, 1, 'one customer in the database')
    t.equal(customers[0]?.id, ran[0]?.json<CustomerCreated>().customer.id, 'the one that answered')

    const retry = await send(1)
    t.equal(retry.statusCode, 201, 'a retry afterwards')
    t.equal(retry.headers['idempotent-replayed'], 'true', 'is a replay')
    t.equal(retry.body, ran[0]?.body, 'of the first answer')
  },
)

// PGlite runs one transaction at a time, so a key is never seen while its request runs there:
// this case needs a second connection holding the key, which only PostgreSQL has.
if (onPostgres()) {
  t.test('a key held by a running request: 409 with Retry-After: 1, stored nothing', async (t) => {
    const database = await testDatabase()
    const other = await secondConnection(2)
    t.teardown(() => other.db.destroy())
    const { inject } = await build(t, { database })
    const payload = { name: 'Wambui Mwangi' }
    const send = () =>
      inject({
        method: 'POST',
        url: '/api/customers/1502',
        headers: { ...authFor(1502), 'idempotency-key': 'held' },
        payload,
      })
    t.equal(
      (await inject({ method: 'GET', url: '/api/customers/1502', headers: authFor(1502) }))
        .statusCode,
      200,
      'the business exists',
    )

    // Another instance's request with this key, claimed and not finished.
    const held = await beginIdempotentRequest(
      other.db,
      { businessId: 1502, userSub: 1, key: 'held' },
      requestFingerprint('POST', '/api/customers/1502', payload),
    )
    if (held.outcome !== 'run') throw new Error(`the key was not claimed: ${held.outcome}`)
    const busy = await send()
    t.equal(busy.statusCode, 409, 'in progress')
    t.equal(busy.headers['retry-after'], '1', 'Retry-After: 1')
    t.match(busy.json(), { error: 'Request in progress' }, 'body')

    // That request fails and rolls back: the retry runs.
    await abandonIdempotentRequest(held.transaction)
    const retry = await send()
    t.equal(retry.statusCode, 201, 'the retry ran')
    t.equal(retry.headers['idempotent-replayed'], undefined, 'not a replay')
  })
}
