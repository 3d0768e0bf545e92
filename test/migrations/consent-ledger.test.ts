/**
 * migrations/2026-12-03T1250-consent-ledger.ts: customers that existed before the ledger get
 * records of the flags they hold (the most restrictive reading where the flags disagree), their
 * flags become the ledger's views, a second run changes nothing; and the ledger is append-only
 * but for the erasure's `[erased]` evidence.
 */
import { sql } from 'kysely'
import t from 'tap'
import { backfillConsents } from '../../migrations/2026-12-03T1250-consent-ledger.js'
import { authFor, build } from '../helper.js'
import { flagsShown, getConsents, viewsOf } from '../support/consents.js'
import { createCustomer } from '../support/customers.js'

const BUSINESS = 961

interface OldFlags {
  prefer_sms: boolean
  prefer_email: boolean
  prefer_call: boolean
  can_receive_offers?: boolean
  can_receive_loyalty?: boolean
  do_not_contact?: boolean
}

t.test('old customers get records of their flags, and flags that are the views', async (t) => {
  const { inject, database } = await build(t)
  const db = database.db
  await db.insertInto('businesses').values({ id: BUSINESS }).execute()

  /** A customer as rows written before the ledger: no consent record. */
  const old = async (name: string, flags: OldFlags, preferences = true) => {
    const { prefer_sms, prefer_email, prefer_call, ...rest } = flags
    const row = await db
      .insertInto('customers')
      .values({ business_id: BUSINESS, name, prefer_sms, prefer_email, prefer_call })
      .returning('id')
      .executeTakeFirstOrThrow()
    if (preferences) {
      await db
        .insertInto('customer_preferences')
        .values({ business_id: BUSINESS, customer_id: row.id, ...rest })
        .execute()
      await db
        .insertInto('customer_purchase_history')
        .values({ business_id: BUSINESS, customer_id: row.id })
        .execute()
    }
    return row.id
  }
  const cases = [
    {
      name: 'defaults',
      flags: { prefer_sms: true, prefer_email: false, prefer_call: false },
      statuses: ['granted', 'withdrawn', 'withdrawn', 'granted', 'granted'],
      views: {
        prefer_sms: true,
        prefer_email: false,
        prefer_call: false,
        can_receive_offers: true,
        can_receive_loyalty: true,
        do_not_contact: false,
      },
      changed: false,
    },
    {
      name: 'do_not_contact beside flags that are on',
      flags: { prefer_sms: true, prefer_email: true, prefer_call: false, do_not_contact: true },
      statuses: ['withdrawn', 'withdrawn', 'withdrawn', 'withdrawn', 'withdrawn'],
      views: {
        prefer_sms: false,
        prefer_email: false,
        prefer_call: false,
        can_receive_offers: false,
        can_receive_loyalty: false,
        do_not_contact: true,
      },
      changed: true,
    },
    {
      name: 'every flag off without do_not_contact',
      flags: {
        prefer_sms: false,
        prefer_email: false,
        prefer_call: false,
        can_receive_offers: false,
        can_receive_loyalty: false,
      },
      statuses: ['withdrawn', 'withdrawn', 'withdrawn', 'withdrawn', 'withdrawn'],
      views: {
        prefer_sms: false,
        prefer_email: false,
        prefer_call: false,
        can_receive_offers: false,
        can_receive_loyalty: false,
        do_not_contact: true,
      },
      changed: true,
    },
    {
      name: 'offers off, calls on',
      flags: {
        prefer_sms: false,
        prefer_email: false,
        prefer_call: true,
        can_receive_offers: false,
      },
      statuses: ['withdrawn', 'withdrawn', 'granted', 'withdrawn', 'granted'],
      views: {
        prefer_sms: false,
        prefer_email: false,
        prefer_call: true,
        can_receive_offers: false,
        can_receive_loyalty: true,
        do_not_contact: false,
      },
      changed: false,
    },
  ]
  const ids = []
  for (const c of cases) ids.push(await old(c.name, c.flags))
  const bare = await old(
    'No preferences row',
    { prefer_sms: false, prefer_email: true, prefer_call: false },
    false,
  )
  const recent = await createCustomer(inject, BUSINESS, { name: 'Created through the API' })
  const recentBefore = await getConsents(inject, BUSINESS, recent.id)

  await backfillConsents(db)

  for (const [index, c] of cases.entries()) {
    const id = ids[index]!
    const { current, history } = await getConsents(inject, BUSINESS, id)
    t.same(
      [...history].reverse().map(({ channel, purpose, status }) => [channel, purpose, status]),
      [
        ['sms', 'service', c.statuses[0]],
        ['email', 'service', c.statuses[1]],
        ['call', 'service', c.statuses[2]],
        ['sms', 'marketing', c.statuses[3]],
        ['sms', 'loyalty', c.statuses[4]],
      ],
      `${c.name}: the records`,
    )
    t.ok(
      history.every(
        (record) =>
          record.actor === 'system' && record.request_id === null && record.source === 'api',
      ),
      `${c.name}: by system, source api, no request`,
    )
    const shown = await flagsShown(inject, BUSINESS, id)
    t.same(shown.flags, c.views, `${c.name}: the flags`)
    t.same(shown.flags, viewsOf(current), `${c.name}: the flags are the views`)
    t.equal(shown.version, c.changed ? 2 : 1, `${c.name}: version + 1 only when changed`)
  }
  const bareRecords = await db
    .selectFrom('customer_consents')
    .select(['channel', 'purpose', 'status'])
    .where('customer_id', '=', bare)
    .orderBy('id')
    .execute()
  t.same(
    bareRecords.map(({ channel, purpose, status }) => [channel, purpose, status]),
    [
      ['sms', 'service', 'withdrawn'],
      ['email', 'service', 'granted'],
      ['call', 'service', 'withdrawn'],
      ['sms', 'marketing', 'granted'],
      ['sms', 'loyalty', 'granted'],
    ],
    'a customer without a preferences row: the column defaults',
  )
  t.same(
    await getConsents(inject, BUSINESS, recent.id),
    recentBefore,
    'a customer that has records is left alone',
  )

  const count = async () =>
    Number(
      (
        await db
          .selectFrom('customer_consents')
          .select((eb) => eb.fn.countAll().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    )
  const rows = await count()
  const versions = await db
    .selectFrom('customers')
    .select(['id', 'version'])
    .orderBy('id')
    .execute()
  await backfillConsents(db)
  t.equal(await count(), rows, 'a second run records nothing')
  t.same(
    await db.selectFrom('customers').select(['id', 'version']).orderBy('id').execute(),
    versions,
    'a second run changes no customer',
  )
})

t.test('the ledger is append-only; only evidence may become [erased]', async (t) => {
  const { inject, database } = await build(t)
  const db = database.db
  const customer = await createCustomer(inject, BUSINESS, { name: 'Ledger Subject' })
  const recorded = await inject({
    method: 'POST',
    url: `/api/customers/${BUSINESS}/${customer.id}/consents`,
    headers: authFor(BUSINESS),
    payload: {
      channel: 'sms',
      purpose: 'marketing',
      status: 'withdrawn',
      source: 'sms_reply',
      evidence: 'STOP Wanjiru',
    },
  })
  t.equal(recorded.statusCode, 201, 'recorded')
  const id = (recorded.json() as { consent: { id: number } }).consent.id
  const refused = { code: '23001' }
  const attempts = [
    { name: 'status changed', query: sql`update customer_consents set status = 'granted'` },
    { name: 'evidence changed', query: sql`update customer_consents set evidence = 'GO'` },
    { name: 'evidence cleared', query: sql`update customer_consents set evidence = null` },
    {
      name: 'evidence erased with another column',
      query: sql`update customer_consents set evidence = '[erased]', actor = 'user:2'`,
    },
    { name: 'delete', query: sql`delete from customer_consents` },
  ]
  for (const attempt of attempts) {
    await t.rejects(
      sql`${attempt.query} where id = ${id}`.execute(db),
      refused,
      `${attempt.name}: refused`,
    )
  }
  await t.rejects(sql`truncate customer_consents`.execute(db), refused, 'truncate: refused')
  await t.resolves(
    sql`update customer_consents set evidence = '[erased]' where id = ${id}`.execute(db),
    'evidence set to [erased]: allowed',
  )
  const row = await db
    .selectFrom('customer_consents')
    .selectAll()
    .where('id', '=', id)
    .executeTakeFirstOrThrow()
  t.match(row, { evidence: '[erased]', status: 'withdrawn', actor: 'user:1' }, 'only evidence')
})
