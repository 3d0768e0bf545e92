/**
 * Writing a contact flag through PATCH customer (endpoint 5) or PATCH preferences (endpoint 9)
 * appends exactly the consent records SPEC's "Consent views" lists, in the documented order, and
 * the flags are then the ledger's views; concurrent writes on one customer lose no record.
 */
import type { LightMyRequestResponse } from 'fastify'
import t from 'tap'
import type { Consents } from '../../../../generated/schemas/Consents.js'
import type { CustomerUpdated } from '../../../../generated/schemas/CustomerUpdated.js'
import type { PreferencesUpdated } from '../../../../generated/schemas/PreferencesUpdated.js'
import { authFor, bearer, fileServer, tokenFor, type TestServer } from '../../../helper.js'
import { flagsShown, getConsents, viewsOf } from '../../../support/consents.js'
import { createCustomer } from '../../../support/customers.js'

type Inject = TestServer['inject']

const ALL_CHANNELS = ['sms', 'email', 'call', 'whatsapp']

async function patch(
  inject: Inject,
  url: string,
  payload: object,
  headers: Record<string, string>,
): Promise<LightMyRequestResponse> {
  return inject({ method: 'PATCH', url, headers, payload: payload as Record<string, unknown> })
}

/** The records a write appended: those newer than `before`'s newest, oldest first. */
function appended(before: Consents, after: Consents): string[] {
  const newest = before.history[0]?.id ?? 0
  return after.history
    .filter((record) => record.id > newest)
    .reverse()
    .map((record) => `${record.channel}:${record.purpose}:${record.status}`)
}

t.test('each flag written appends the records SPEC lists, and the flags follow', async (t) => {
  const { inject } = await fileServer(t)
  const businessId = 1821
  const customer = await createCustomer(inject, businessId, { name: 'Flag Subject' })
  const preferences = `/api/customers/${businessId}/${customer.id}/preferences`
  const record = `/api/customers/${businessId}/${customer.id}`
  const steps: {
    name: string
    url: string
    payload: object
    records: string[]
    flags: Record<string, boolean>
  }[] = [
    {
      name: 'offers off: marketing withdrawn on every channel',
      url: preferences,
      payload: { can_receive_offers: false },
      records: ALL_CHANNELS.map((channel) => `${channel}:marketing:withdrawn`),
      flags: { can_receive_offers: false, can_receive_loyalty: true, do_not_contact: false },
    },
    {
      name: 'offers on: (sms, marketing) granted',
      url: preferences,
      payload: { can_receive_offers: true },
      records: ['sms:marketing:granted'],
      flags: { can_receive_offers: true },
    },
    {
      name: 'offers on again: granted again',
      url: preferences,
      payload: { can_receive_offers: true },
      records: ['sms:marketing:granted'],
      flags: { can_receive_offers: true },
    },
    {
      name: 'loyalty off',
      url: preferences,
      payload: { can_receive_loyalty: false },
      records: ALL_CHANNELS.map((channel) => `${channel}:loyalty:withdrawn`),
      flags: { can_receive_loyalty: false },
    },
    {
      name: 'email on',
      url: record,
      payload: { prefer_email: true },
      records: ['email:service:granted'],
      flags: { prefer_email: true, prefer_sms: true },
    },
    {
      name: 'do_not_contact on: every granted pair withdrawn, in channel then purpose order',
      url: preferences,
      payload: { do_not_contact: true },
      records: ['sms:marketing:withdrawn', 'sms:service:withdrawn', 'email:service:withdrawn'],
      flags: {
        prefer_sms: false,
        prefer_email: false,
        prefer_call: false,
        can_receive_offers: false,
        can_receive_loyalty: false,
        do_not_contact: true,
      },
    },
    {
      name: 'do_not_contact on again: nothing left to withdraw',
      url: preferences,
      payload: { do_not_contact: true },
      records: [],
      flags: { do_not_contact: true },
    },
    {
      name: 'do_not_contact off: (sms, service) granted',
      url: preferences,
      payload: { do_not_contact: false },
      records: ['sms:service:granted'],
      flags: { prefer_sms: true, can_receive_offers: false, do_not_contact: false },
    },
    {
      name: 'every prefer_* in one PATCH, in order',
      url: record,
      payload: { prefer_call: true, prefer_sms: false, prefer_email: false },
      records: ['sms:service:withdrawn', 'email:service:withdrawn', 'call:service:granted'],
      flags: { prefer_sms: false, prefer_call: true, do_not_contact: false },
    },
    {
      name: 'the last granted consent withdrawn: do_not_contact on',
      url: record,
      payload: { prefer_call: false, name: 'Flag Subject Renamed' },
      records: ['call:service:withdrawn'],
      flags: { prefer_call: false, do_not_contact: true },
    },
    {
      name: 'do_not_contact on beside offers on: do_not_contact applied last',
      url: preferences,
      payload: { can_receive_offers: true, do_not_contact: true, best_contact_time: 'Never' },
      records: ['sms:marketing:granted', 'sms:marketing:withdrawn'],
      flags: { can_receive_offers: false, do_not_contact: true },
    },
    {
      name: 'do_not_contact off beside offers and loyalty off',
      url: preferences,
      payload: { can_receive_loyalty: false, do_not_contact: false, can_receive_offers: false },
      records: [
        'sms:service:granted',
        ...ALL_CHANNELS.map((channel) => `${channel}:marketing:withdrawn`),
        ...ALL_CHANNELS.map((channel) => `${channel}:loyalty:withdrawn`),
      ],
      flags: { prefer_sms: true, can_receive_offers: false, do_not_contact: false },
    },
    {
      name: 'no flag in the body: no record',
      url: preferences,
      payload: { favorite_products: [3], preferred_payment: 'cash' },
      records: [],
      flags: {},
    },
    {
      name: 'no flag in the customer body: no record',
      url: record,
      payload: { customer_type: 'vip' },
      records: [],
      flags: {},
    },
  ]
  let version = customer.version
  for (const [index, step] of steps.entries()) {
    const before = await getConsents(inject, businessId, customer.id)
    const headers = {
      ...bearer(tokenFor({ sub: 7, businesses: [businessId] })),
      'x-request-id': `flags-${index}`,
    }
    const res = await patch(inject, step.url, step.payload, headers)
    t.equal(res.statusCode, 200, `${step.name}: status`)
    const after = await getConsents(inject, businessId, customer.id)
    t.same(appended(before, after), step.records, `${step.name}: the records appended`)
    const fresh = after.history.slice(0, step.records.length)
    t.ok(
      fresh.every(
        (entry) =>
          entry.source === 'api' &&
          entry.actor === 'user:7' &&
          entry.request_id === `flags-${index}`,
      ),
      `${step.name}: source api, the token's sub, the request id`,
    )
    const shown = await flagsShown(inject, businessId, customer.id)
    t.same(shown.flags, viewsOf(after.current), `${step.name}: the flags are the views`)
    t.match(shown.flags, step.flags, `${step.name}: ${JSON.stringify(step.flags)}`)
    version += 1
    t.equal(shown.version, version, `${step.name}: version + 1`)
    // The answer shows the flags as stored.
    if (step.url === preferences) {
      t.match(
        res.json<PreferencesUpdated>().preferences,
        {
          do_not_contact: shown.flags.do_not_contact,
          can_receive_offers: shown.flags.can_receive_offers,
          can_receive_loyalty: shown.flags.can_receive_loyalty,
          version,
        },
        `${step.name}: the answer's flags`,
      )
    } else {
      t.match(
        res.json<CustomerUpdated>().customer,
        {
          prefer_sms: shown.flags.prefer_sms,
          prefer_email: shown.flags.prefer_email,
          prefer_call: shown.flags.prefer_call,
          version,
        },
        `${step.name}: the answer's flags`,
      )
    }
  }
})

t.test('refused and replayed writes record nothing', async (t) => {
  const { inject } = await fileServer(t)
  const businessId = 1822
  const customer = await createCustomer(inject, businessId, { name: 'Flag Subject' })
  const preferences = `/api/customers/${businessId}/${customer.id}/preferences`
  const before = await getConsents(inject, businessId, customer.id)
  const refusals: {
    name: string
    url: string
    payload: object
    headers?: object
    status: number
  }[] = [
    {
      name: 'a stale If-Match',
      url: preferences,
      payload: { do_not_contact: true },
      headers: { 'if-match': '"99"' },
      status: 412,
    },
    {
      name: 'an invalid field beside a flag',
      url: preferences,
      payload: { can_receive_offers: false, preferred_payment: 'card' },
      status: 400,
    },
    {
      name: 'an invalid phone beside a flag',
      url: `/api/customers/${businessId}/${customer.id}`,
      payload: { prefer_email: true, phone: 'not a phone' },
      status: 400,
    },
    {
      name: 'a stale If-Match on the customer',
      url: `/api/customers/${businessId}/${customer.id}`,
      payload: { prefer_email: true },
      headers: { 'if-match': '"99"' },
      status: 412,
    },
  ]
  for (const refusal of refusals) {
    const res = await patch(inject, refusal.url, refusal.payload, {
      ...authFor(businessId),
      ...(refusal.headers ?? {}),
    })
    t.equal(res.statusCode, refusal.status, `${refusal.name}: status`)
  }
  t.same(await getConsents(inject, businessId, customer.id), before, 'refusals: nothing recorded')

  const key = { ...authFor(businessId), 'idempotency-key': 'flags-replay' }
  const first = await patch(inject, preferences, { can_receive_loyalty: false }, key)
  t.equal(first.statusCode, 200, 'first: status')
  const recorded = await getConsents(inject, businessId, customer.id)
  t.equal(recorded.history.length, before.history.length + 4, 'first: four records')
  const again = await patch(inject, preferences, { can_receive_loyalty: false }, key)
  t.equal(again.headers['idempotent-replayed'], 'true', 'repeat: replayed')
  t.same(await getConsents(inject, businessId, customer.id), recorded, 'repeat: nothing recorded')
})

t.test(
  'concurrent writes on one customer lose no record; flags agree with the ledger',
  async (t) => {
    const { inject } = await fileServer(t)
    const businessId = 1823
    const customer = await createCustomer(inject, businessId, { name: 'Busy Subject' })
    const before = await getConsents(inject, businessId, customer.id)
    const base = `/api/customers/${businessId}/${customer.id}`
    const headers = authFor(businessId)
    const writes: { method: 'POST' | 'PATCH'; url: string; payload: object; records: number }[] = []
    for (let i = 0; i < 8; i++) {
      writes.push(
        {
          method: 'POST',
          url: `${base}/consents`,
          payload: {
            channel: ALL_CHANNELS[i % 4],
            purpose: i % 2 ? 'marketing' : 'loyalty',
            status: i % 3 ? 'granted' : 'withdrawn',
            source: 'web',
          },
          records: 1,
        },
        {
          method: 'PATCH',
          url: `${base}/preferences`,
          payload: { can_receive_offers: false },
          records: 4,
        },
        { method: 'PATCH', url: base, payload: { prefer_call: i % 2 === 0 }, records: 1 },
      )
    }
    const responses = await Promise.all(
      writes.map((write) =>
        inject({
          method: write.method,
          url: write.url,
          headers,
          payload: write.payload as Record<string, unknown>,
        }),
      ),
    )
    t.same(
      responses.map((response) => response.statusCode),
      writes.map((write) => (write.method === 'POST' ? 201 : 200)),
      'every write succeeded',
    )
    const after = await getConsents(inject, businessId, customer.id)
    t.equal(
      after.history.length,
      before.history.length + writes.reduce((sum, write) => sum + write.records, 0),
      'every record is in the ledger',
    )
    const shown = await flagsShown(inject, businessId, customer.id)
    t.same(shown.flags, viewsOf(after.current), 'the flags are the views of the ledger')
    t.equal(shown.version, customer.version + writes.length, 'one version per write')
  },
)

t.test('a merge records its do_not_contact as consents; undo grants them again', async (t) => {
  const { inject } = await fileServer(t)
  const businessId = 1824
  const headers = authFor(businessId)
  const merge = async (target: number, source: number) => {
    const res = await inject({
      method: 'POST',
      url: `/api/customers/${businessId}/${target}/merge`,
      headers: { ...headers, 'x-request-id': `merge-${target}` },
      payload: { source_ids: [source] },
    })
    t.equal(res.statusCode, 200, `merge into ${target}: status`)
    return (res.json() as { merge: { id: number } }).merge.id
  }
  const undo = async (mergeId: number) => {
    const res = await inject({
      method: 'POST',
      url: `/api/customers/${businessId}/merges/${mergeId}/undo`,
      headers,
    })
    t.equal(res.statusCode, 200, `undo ${mergeId}: status`)
  }
  const quiet = async (name: string) => {
    const customer = await createCustomer(inject, businessId, { name })
    const res = await patch(
      inject,
      `/api/customers/${businessId}/${customer.id}/preferences`,
      { do_not_contact: true },
      headers,
    )
    t.equal(res.statusCode, 200, `${name}: do_not_contact on`)
    return customer.id
  }

  const target = await createCustomer(inject, businessId, {
    name: 'Merge Target',
    prefer_email: true,
  })
  const before = await getConsents(inject, businessId, target.id)
  const flagsBefore = (await flagsShown(inject, businessId, target.id)).flags
  const source = await quiet('Quiet Source')
  const mergeId = await merge(target.id, source)
  const merged = await getConsents(inject, businessId, target.id)
  t.same(
    appended(before, merged),
    [
      'sms:marketing:withdrawn',
      'sms:loyalty:withdrawn',
      'sms:service:withdrawn',
      'email:service:withdrawn',
    ],
    "merge: the target's granted consents withdrawn",
  )
  t.match(
    merged.history[0],
    {
      source: 'api',
      actor: 'user:1',
      request_id: `merge-${target.id}`,
      evidence: `merge of customers ${source}: do_not_contact of a source`,
    },
    'merge: by the merge request',
  )
  let shown = await flagsShown(inject, businessId, target.id)
  t.same(shown.flags, viewsOf(merged.current), 'merge: the flags are the views')
  t.equal(shown.flags.do_not_contact, true, 'merge: do_not_contact of the source wins')

  await undo(mergeId)
  const undone = await getConsents(inject, businessId, target.id)
  t.same(
    appended(merged, undone),
    [
      'sms:marketing:granted',
      'sms:loyalty:granted',
      'sms:service:granted',
      'email:service:granted',
    ],
    'undo: what the merge withdrew, granted again',
  )
  shown = await flagsShown(inject, businessId, target.id)
  t.same(shown.flags, flagsBefore, 'undo: the flags as before the merge')
  t.same(shown.flags, viewsOf(undone.current), 'undo: the flags are the views')

  // Changed since the merge: the undo leaves the consents as they are.
  const second = await merge(target.id, await quiet('Another Quiet Source'))
  const granted = await inject({
    method: 'POST',
    url: `/api/customers/${businessId}/${target.id}/consents`,
    headers,
    payload: { channel: 'whatsapp', purpose: 'service', status: 'granted', source: 'in_store' },
  })
  t.equal(granted.statusCode, 201, 'a consent after the merge')
  const afterGrant = await getConsents(inject, businessId, target.id)
  await undo(second)
  t.same(
    appended(afterGrant, await getConsents(inject, businessId, target.id)),
    [],
    'undo after a change since: no record',
  )
  shown = await flagsShown(inject, businessId, target.id)
  t.match(shown.flags, { do_not_contact: false, prefer_sms: false }, 'undo: the flags kept')
})

t.test('a consent that moves a flag is one change in the change history', async (t) => {
  const { inject } = await fileServer(t)
  const businessId = 1825
  const customer = await createCustomer(inject, businessId, { name: 'History Subject' })
  const recorded = await inject({
    method: 'POST',
    url: `/api/customers/${businessId}/${customer.id}/consents`,
    headers: { ...authFor(businessId), 'x-request-id': 'consent-history-1' },
    payload: { channel: 'sms', purpose: 'loyalty', status: 'withdrawn', source: 'sms_reply' },
  })
  t.equal(recorded.statusCode, 201, 'recorded')
  const changes = await inject({
    method: 'GET',
    url: `/api/customers/${businessId}/${customer.id}/changes`,
    headers: authFor(businessId),
  })
  t.equal(changes.statusCode, 200, 'changes: status')
  const [latest] = (changes.json() as { changes: Record<string, unknown>[] }).changes
  t.match(
    latest,
    {
      actor: 'user:1',
      request_id: 'consent-history-1',
      action: 'consent_changed',
      fields: {
        'consent:sms:loyalty': { from: 'granted', to: 'withdrawn' },
        can_receive_loyalty: { from: true, to: false },
      },
    },
    'the consent and the flag it moved, by the consent request',
  )
})
