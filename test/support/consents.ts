import type { Consents } from '../../generated/schemas/Consents.js'
import type { CustomerResponse } from '../../generated/schemas/CustomerResponse.js'
import { authFor, type TestServer } from '../helper.js'

type Inject = TestServer['inject']
type Current = Consents['current']

/** The contact flags as SPEC's "Consent views" defines them, from a `current` list. */
export function viewsOf(current: Current) {
  const granted = (where: (entry: Current[number]) => boolean) =>
    current.some((entry) => entry.status === 'granted' && where(entry))
  const service = (channel: string) =>
    granted((entry) => entry.channel === channel && entry.purpose === 'service')
  return {
    prefer_sms: service('sms'),
    prefer_email: service('email'),
    prefer_call: service('call'),
    can_receive_offers: granted((entry) => entry.purpose === 'marketing'),
    can_receive_loyalty: granted((entry) => entry.purpose === 'loyalty'),
    do_not_contact: !granted(() => true),
  }
}

/** The latest status per (channel, purpose) of a history, newest first, as `current` lists it. */
export function latestOf(
  history: readonly { channel: string; purpose: string; status: string }[],
): Map<string, string> {
  const latest = new Map<string, string>()
  for (const record of history) {
    const key = `${record.channel}:${record.purpose}`
    if (!latest.has(key)) latest.set(key, record.status)
  }
  return latest
}

export async function getConsents(
  inject: Inject,
  businessId: number,
  customerId: number,
): Promise<Consents> {
  const response = await inject({
    method: 'GET',
    url: `/api/customers/${businessId}/${customerId}/consents`,
    headers: authFor(businessId),
  })
  if (response.statusCode !== 200) {
    throw new Error(`GET consents: ${response.statusCode} ${response.body}`)
  }
  return response.json<Consents>()
}

/** The six flags as GET customer shows them (customer and preferences). */
export async function flagsShown(inject: Inject, businessId: number, customerId: number) {
  const response = await inject({
    method: 'GET',
    url: `/api/customers/${businessId}/${customerId}`,
    headers: authFor(businessId),
  })
  if (response.statusCode !== 200) {
    throw new Error(`GET customer: ${response.statusCode} ${response.body}`)
  }
  const { customer } = response.json<CustomerResponse>()
  return {
    flags: {
      prefer_sms: customer.prefer_sms,
      prefer_email: customer.prefer_email,
      prefer_call: customer.prefer_call,
      can_receive_offers: customer.preferences.can_receive_offers,
      can_receive_loyalty: customer.preferences.can_receive_loyalty,
      do_not_contact: customer.preferences.do_not_contact,
    },
    version: customer.version,
  }
}
