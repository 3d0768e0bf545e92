import type { LightMyRequestResponse } from 'fastify'
import t from 'tap'
import type { ApiError } from '../../../../generated/schemas/ApiError.js'
import type { ConsentRecorded } from '../../../../generated/schemas/ConsentRecorded.js'
import { authFor, fileServer, tokenFor, bearer, type TestServer } from '../../../helper.js'
import { flagsShown, getConsents, viewsOf } from '../../../support/consents.js'
import { createCustomer } from '../../../support/customers.js'

type Inject = TestServer['inject']
type Db = TestServer['database']['db']

const consentsUrl = (businessId: number, customerId: number): string =>
  `/api/customers/${businessId}/${customerId}/consents`

async function post(
  inject: Inject,
  businessId: number,
  customerId: number,
  payload: unknown,
  headers: Record<string, string> = {},
): Promise<LightMyRequestResponse> {
  return inject({
    method: 'POST',
    url: consentsUrl(businessId, customerId),
    headers: { ...authFor(businessId), ...headers },
    payload: payload as Record<string, unknown>,
  })
}

async function ledgerRows(db: Db, businessId: number, customerId: number) {
  return db
    .selectFrom('customer_consents')
    .selectAll()
    .where('business_id', '=', businessId)
    .where('customer_id', '=', customerId)
    .orderBy('id')
    .execute()
}

const SMS_MARKETING_STOP = {
  channel: 'sms',
  purpose: 'marketing',
  status: 'withdrawn',
  source: 'sms_reply',
  evidence: 'STOP',
}

t.test('a new customer has its initial flags in the ledger', async (t) => {
  const { inject } = await fileServer(t)
  const businessId = 1801
  const cases = [
    { name: 'defaults', payload: {}, service: { sms: true, email: false, call: false } },
    {
      name: 'every prefer_* given',
      payload: { prefer_sms: false, prefer_email: true, prefer_call: true },
      service: { sms: false, email: true, call: true },
    },
  ]
  for (const c of cases) {
    const customer = await createCustomer(inject, businessId, {
      name: 'Consent Subject',
      ...c.payload,
    })
    const { current, history } = await getConsents(inject, businessId, customer.id)
    const status = (granted: boolean) => (granted ? 'granted' : 'withdrawn')
    t.same(
      current.map(({ channel, purpose, status }) => ({ channel, purpose, status })),
      [
        { channel: 'sms', purpose: 'marketing', status: 'granted' },
        { channel: 'sms', purpose: 'loyalty', status: 'granted' },
        { channel: 'sms', purpose: 'service', status: status(c.service.sms) },
        { channel: 'email', purpose: 'service', status: status(c.service.email) },
        { channel: 'call', purpose: 'service', status: status(c.service.call) },
      ],
      `${c.name}: current, channels then purposes in order`,
    )
    t.equal(history.length, 5, `${c.name}: five records`)
    t.ok(
      history.every(
        (record) =>
          record.source === 'api' &&
          record.actor === 'user:1' &&
          record.evidence === null &&
          typeof record.request_id === 'string' &&
          record.customer_id === customer.id &&
          record.business_id === businessId,
      ),
      `${c.name}: source api, the token's sub, the request id`,
    )
    t.ok(
      current.every((entry) => entry.since === customer.created_at),
      `${c.name}: since the customer was created`,
    )
    const shown = await flagsShown(inject, businessId, customer.id)
    t.same(shown.flags, viewsOf(current), `${c.name}: the flags are the ledger's views`)
    t.equal(shown.version, 1, `${c.name}: version 1`)
  }
})

t.test('POST records a consent: 201, the record, the ledger, version + 1', async (t) => {
  const { inject, database } = await fileServer(t)
  const businessId = 1802
  const customer = await createCustomer(inject, businessId, { name: 'Consent Subject' })
  const before = await ledgerRows(database.db, businessId, customer.id)

  const res = await post(inject, businessId, customer.id, SMS_MARKETING_STOP, {
    'x-request-id': 'consent-req-1',
    ...bearer(tokenFor({ sub: 42, businesses: [businessId] })),
  })
  t.equal(res.statusCode, 201, 'status')
  const body = res.json<ConsentRecorded>()
  t.same(Object.keys(body).sort(), ['consent', 'message'], 'shape')
  t.equal(body.message, 'Consent recorded', 'message')
  t.match(
    body.consent,
    {
      customer_id: customer.id,
      business_id: businessId,
      channel: 'sms',
      purpose: 'marketing',
      status: 'withdrawn',
      source: 'sms_reply',
      evidence: 'STOP',
      actor: 'user:42',
      request_id: 'consent-req-1',
    },
    'the record',
  )
  t.ok(Date.parse(body.consent.recorded_at) >= Date.parse(customer.created_at), 'recorded_at')

  const after = await ledgerRows(database.db, businessId, customer.id)
  t.equal(after.length, before.length + 1, 'one row appended')
  t.match(after.at(-1), { id: body.consent.id, actor: 'user:42', request_id: 'consent-req-1' })

  const { current, history } = await getConsents(inject, businessId, customer.id)
  t.same(history[0], body.consent, 'history: newest first')
  t.same(
    history.map((record) => record.id),
    [...after].reverse().map((row) => row.id),
    'history: every row, newest first',
  )
  t.match(
    current.find((entry) => entry.channel === 'sms' && entry.purpose === 'marketing'),
    { status: 'withdrawn', since: body.consent.recorded_at },
    'current: the new status, since now',
  )
  const shown = await flagsShown(inject, businessId, customer.id)
  t.equal(shown.version, customer.version + 1, 'version + 1')
  t.same(shown.flags, viewsOf(current), 'flags are the views')
  t.equal(shown.flags.can_receive_offers, false, 'no marketing granted: offers off')
})

t.test('the flags follow the ledger after each consent', async (t) => {
  const { inject } = await fileServer(t)
  const businessId = 1803
  const customer = await createCustomer(inject, businessId, { name: 'Consent Subject' })
  const steps: { consent: object; expect: Record<string, boolean> }[] = [
    {
      consent: { channel: 'whatsapp', purpose: 'marketing', status: 'granted', source: 'in_store' },
      expect: { can_receive_offers: true },
    },
    {
      consent: { channel: 'sms', purpose: 'marketing', status: 'withdrawn', source: 'sms_reply' },
      expect: { can_receive_offers: true },
    },
    {
      consent: { channel: 'whatsapp', purpose: 'marketing', status: 'withdrawn', source: 'web' },
      expect: { can_receive_offers: false, do_not_contact: false },
    },
    {
      consent: { channel: 'sms', purpose: 'loyalty', status: 'withdrawn', source: 'web' },
      expect: { can_receive_loyalty: false, do_not_contact: false },
    },
    {
      consent: { channel: 'sms', purpose: 'service', status: 'withdrawn', source: 'api' },
      expect: { prefer_sms: false, do_not_contact: true },
    },
    {
      consent: { channel: 'email', purpose: 'service', status: 'granted', source: 'web' },
      expect: { prefer_email: true, do_not_contact: false },
    },
    {
      consent: { channel: 'call', purpose: 'loyalty', status: 'granted', source: 'import' },
      expect: { can_receive_loyalty: true, prefer_call: false },
    },
  ]
  let version = customer.version
  for (const [index, step] of steps.entries()) {
    const res = await post(inject, businessId, customer.id, step.consent)
    t.equal(res.statusCode, 201, `step ${index}: status`)
    const { current } = await getConsents(inject, businessId, customer.id)
    const shown = await flagsShown(inject, businessId, customer.id)
    t.same(shown.flags, viewsOf(current), `step ${index}: flags are the views`)
    t.match(shown.flags, step.expect, `step ${index}: ${JSON.stringify(step.expect)}`)
    version += 1
    t.equal(shown.version, version, `step ${index}: version + 1`)
  }
})

t.test('current: since the first of the latest records that agree', async (t) => {
  const { inject } = await fileServer(t)
  const businessId = 1804
  const customer = await createCustomer(inject, businessId, { name: 'Consent Subject' })
  const grant = { channel: 'whatsapp', purpose: 'service', status: 'granted', source: 'web' }
  const first = (await post(inject, businessId, customer.id, grant)).json<ConsentRecorded>()
  await post(inject, businessId, customer.id, grant)
  let entry = (await getConsents(inject, businessId, customer.id)).current.find(
    (c) => c.channel === 'whatsapp',
  )
  t.same(
    entry,
    {
      channel: 'whatsapp',
      purpose: 'service',
      status: 'granted',
      since: first.consent.recorded_at,
    },
    'granted twice: since the first grant',
  )
  const withdrawn = (
    await post(inject, businessId, customer.id, { ...grant, status: 'withdrawn' })
  ).json<ConsentRecorded>()
  entry = (await getConsents(inject, businessId, customer.id)).current.find(
    (c) => c.channel === 'whatsapp',
  )
  t.match(entry, { status: 'withdrawn', since: withdrawn.consent.recorded_at }, 'then withdrawn')
})

t.test('evidence: trimmed, cleaned like free text, up to 500 characters', async (t) => {
  const { inject } = await fileServer(t)
  const businessId = 1805
  const customer = await createCustomer(inject, businessId, { name: 'Consent Subject' })
  const base = { channel: 'sms', purpose: 'marketing', status: 'granted', source: 'in_store' }
  const cases: { name: string; evidence?: unknown; stored: string | null }[] = [
    { name: 'absent', stored: null },
    { name: 'blank', evidence: '   ', stored: null },
    { name: 'trimmed', evidence: '  Form 17  ', stored: 'Form 17' },
    { name: '500 characters', evidence: 'e'.repeat(500), stored: 'e'.repeat(500) },
    { name: '500 emoji', evidence: '📝'.repeat(500), stored: '📝'.repeat(500) },
    { name: 'bidi controls removed', evidence: '\u202EPOTS\u202C', stored: 'POTS' },
    {
      name: 'NFC',
      evidence: 'Signe\u0301 at the till',
      stored: 'Sign\u00e9 at the till',
    },
  ]
  for (const c of cases) {
    const res = await post(inject, businessId, customer.id, {
      ...base,
      ...(c.evidence === undefined ? {} : { evidence: c.evidence }),
    })
    t.equal(res.statusCode, 201, `${c.name}: status`)
    t.equal(res.json<ConsentRecorded>().consent.evidence, c.stored, `${c.name}: evidence`)
  }
})

t.test('invalid consents are a 400 naming the field; nothing is recorded', async (t) => {
  const { inject, database } = await fileServer(t)
  const businessId = 1806
  const customer = await createCustomer(inject, businessId, { name: 'Consent Subject' })
  const valid = { channel: 'sms', purpose: 'marketing', status: 'granted', source: 'web' }
  const without = (field: keyof typeof valid) =>
    Object.fromEntries(Object.entries(valid).filter(([key]) => key !== field))
  const cases: { name: string; payload: unknown; path: string }[] = [
    { name: 'empty body', payload: {}, path: 'channel' },
    { name: 'no channel', payload: without('channel'), path: 'channel' },
    { name: 'no purpose', payload: without('purpose'), path: 'purpose' },
    { name: 'no status', payload: without('status'), path: 'status' },
    { name: 'no source', payload: without('source'), path: 'source' },
    { name: 'channel fax', payload: { ...valid, channel: 'fax' }, path: 'channel' },
    { name: 'channel SMS', payload: { ...valid, channel: 'SMS' }, path: 'channel' },
    { name: 'channel empty', payload: { ...valid, channel: ' ' }, path: 'channel' },
    { name: 'channel null', payload: { ...valid, channel: null }, path: 'channel' },
    { name: 'purpose sales', payload: { ...valid, purpose: 'sales' }, path: 'purpose' },
    { name: 'purpose a number', payload: { ...valid, purpose: 1 }, path: 'purpose' },
    { name: 'status given', payload: { ...valid, status: 'given' }, path: 'status' },
    { name: 'status true', payload: { ...valid, status: true }, path: 'status' },
    { name: 'source email', payload: { ...valid, source: 'email' }, path: 'source' },
    { name: 'source null', payload: { ...valid, source: null }, path: 'source' },
    {
      name: 'evidence of 501 characters',
      payload: { ...valid, evidence: 'e'.repeat(501) },
      path: 'evidence',
    },
    { name: 'evidence a number', payload: { ...valid, evidence: 17 }, path: 'evidence' },
    { name: 'evidence null', payload: { ...valid, evidence: null }, path: 'evidence' },
    { name: 'evidence with NUL', payload: { ...valid, evidence: 'a\u0000b' }, path: 'evidence' },
    { name: 'unknown field', payload: { ...valid, actor: 'user:9' }, path: 'actor' },
    { name: 'an array', payload: [valid], path: 'body' },
  ]
  const before = await ledgerRows(database.db, businessId, customer.id)
  for (const c of cases) {
    const res = await post(inject, businessId, customer.id, c.payload)
    t.equal(res.statusCode, 400, `${c.name}: status`)
    const body = res.json<ApiError>()
    t.equal(body.error, 'Validation failed', `${c.name}: error`)
    const paths = (body.details ?? []).map((detail) => detail.path)
    t.ok(paths.includes(c.path), `${c.name}: details name ${c.path} (got ${paths.join(', ')})`)
  }
  t.same(await ledgerRows(database.db, businessId, customer.id), before, 'nothing recorded')
  t.equal(
    (await flagsShown(inject, businessId, customer.id)).version,
    customer.version,
    'version unchanged',
  )
})

t.test('unknown customers and other businesses', async (t) => {
  const { inject, database } = await fileServer(t)
  const [businessId, otherBusinessId] = [1807, 1808]
  const other = await createCustomer(inject, otherBusinessId, { name: 'Other Subject' })
  const mine = await createCustomer(inject, businessId, { name: 'Consent Subject' })
  const before = await ledgerRows(database.db, otherBusinessId, other.id)
  const notFound = [
    { name: 'no such customer', customerId: 999_999_999 },
    { name: "another business's customer", customerId: other.id },
  ]
  for (const c of notFound) {
    const res = await post(
      inject,
      businessId,
      c.customerId,
      SMS_MARKETING_STOP,
      authFor(businessId, otherBusinessId),
    )
    t.equal(res.statusCode, 404, `POST, ${c.name}: status`)
    t.equal(res.json<ApiError>().error, 'Customer not found', `POST, ${c.name}: error`)
    const list = await inject({
      method: 'GET',
      url: consentsUrl(businessId, c.customerId),
      headers: authFor(businessId, otherBusinessId),
    })
    t.equal(list.statusCode, 404, `GET, ${c.name}: status`)
    t.equal(list.json<ApiError>().error, 'Customer not found', `GET, ${c.name}: error`)
  }
  for (const method of ['POST', 'GET'] as const) {
    const res = await inject({
      method,
      url: consentsUrl(businessId, mine.id),
      headers: authFor(otherBusinessId),
      ...(method === 'POST' ? { payload: SMS_MARKETING_STOP } : {}),
    })
    t.equal(res.statusCode, 403, `${method} with a token for another business: status`)
    t.equal(res.json<ApiError>().error, 'Access denied', `${method}: error`)
    const anonymous = await inject({
      method,
      url: consentsUrl(businessId, mine.id),
      ...(method === 'POST' ? { payload: SMS_MARKETING_STOP } : {}),
    })
    t.equal(anonymous.statusCode, 401, `${method} without a token: status`)
  }
  t.same(await ledgerRows(database.db, otherBusinessId, other.id), before, 'other ledger unchanged')
})

t.test('Idempotency-Key: a repeat is replayed and records nothing more', async (t) => {
  const { inject, database } = await fileServer(t)
  const businessId = 1809
  const customer = await createCustomer(inject, businessId, { name: 'Consent Subject' })
  const key = { 'idempotency-key': 'consent-key-1' }
  const first = await post(inject, businessId, customer.id, SMS_MARKETING_STOP, key)
  t.equal(first.statusCode, 201, 'first: status')
  t.equal(first.headers['idempotent-replayed'], undefined, 'first: not replayed')
  const rows = await ledgerRows(database.db, businessId, customer.id)

  const reordered = Object.fromEntries(Object.entries(SMS_MARKETING_STOP).reverse())
  const again = await post(inject, businessId, customer.id, reordered, key)
  t.equal(again.statusCode, 201, 'repeat: status')
  t.equal(again.headers['idempotent-replayed'], 'true', 'repeat: Idempotent-Replayed')
  t.equal(again.body, first.body, 'repeat: the same body')
  t.same(await ledgerRows(database.db, businessId, customer.id), rows, 'repeat: nothing recorded')
  t.equal(
    (await flagsShown(inject, businessId, customer.id)).version,
    customer.version + 1,
    'version + 1 once',
  )

  const reused = await post(
    inject,
    businessId,
    customer.id,
    { ...SMS_MARKETING_STOP, status: 'granted' },
    key,
  )
  t.equal(reused.statusCode, 422, 'another body with the key: status')
  t.equal(reused.json<ApiError>().error, 'Idempotency key reused', 'another body: error')
  t.same(await ledgerRows(database.db, businessId, customer.id), rows, 'reused: nothing recorded')

  // A 404 is kept as the key's answer too.
  const missing = await post(inject, businessId, 999_999_999, SMS_MARKETING_STOP, {
    'idempotency-key': 'consent-key-2',
  })
  t.equal(missing.statusCode, 404, 'unknown customer: 404')
  const missingAgain = await post(inject, businessId, 999_999_999, SMS_MARKETING_STOP, {
    'idempotency-key': 'consent-key-2',
  })
  t.equal(missingAgain.headers['idempotent-replayed'], 'true', 'the 404 replayed')
})

t.test('soft-deleted and merged customers take consents (as their preferences do)', async (t) => {
  const { inject } = await fileServer(t)
  const businessId = 1810
  const deleted = await createCustomer(inject, businessId, { name: 'Deleted Subject' })
  const removed = await inject({
    method: 'DELETE',
    url: `/api/customers/${businessId}/${deleted.id}`,
    headers: authFor(businessId),
  })
  t.equal(removed.statusCode, 200, 'deleted')
  const target = await createCustomer(inject, businessId, { name: 'Merge Target' })
  const source = await createCustomer(inject, businessId, { name: 'Merge Source' })
  const merged = await inject({
    method: 'POST',
    url: `/api/customers/${businessId}/${target.id}/merge`,
    headers: authFor(businessId),
    payload: { source_ids: [source.id] },
  })
  t.equal(merged.statusCode, 200, 'merged')
  const targetBefore = await getConsents(inject, businessId, target.id)
  for (const [name, id] of [
    ['soft-deleted', deleted.id],
    ['merged source', source.id],
  ] as const) {
    const res = await post(inject, businessId, id, SMS_MARKETING_STOP)
    t.equal(res.statusCode, 201, `${name}: status`)
    const { current } = await getConsents(inject, businessId, id)
    t.same((await flagsShown(inject, businessId, id)).flags, viewsOf(current), `${name}: views`)
  }
  t.same(
    await getConsents(inject, businessId, target.id),
    targetBefore,
    "the merged source's consent stays its own",
  )
})
