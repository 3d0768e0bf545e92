import type { InjectOptions, LightMyRequestResponse } from 'fastify'
import type { Customer } from '../../generated/schemas/Customer.js'
import type { CustomerCreated } from '../../generated/schemas/CustomerCreated.js'
import { authFor } from '../helper.js'

type Inject = (options: InjectOptions) => Promise<LightMyRequestResponse>

/** Creates a customer through the API (the way every test sets one up) and returns it. */
export async function createCustomer(
  inject: Inject,
  businessId: number,
  payload: Record<string, unknown>,
  headers: Record<string, string> = authFor(businessId),
): Promise<Customer> {
  const res = await inject({
    method: 'POST',
    url: `/api/customers/${businessId}`,
    headers,
    payload,
  })
  if (res.statusCode !== 201) throw new Error(`create failed: ${res.statusCode} ${res.body}`)
  return res.json<CustomerCreated>().customer
}

/** createCustomer, for tests that need only the new customer's id. */
export async function createCustomerId(
  inject: Inject,
  businessId: number,
  payload: Record<string, unknown>,
): Promise<number> {
  return (await createCustomer(inject, businessId, payload)).id
}

/** Creates a customer through a running server's HTTP port (`url` is its base) and returns its id. */
export async function createCustomerAt(
  url: string,
  businessId: number,
  payload: Record<string, unknown>,
): Promise<number> {
  const response = await fetch(`${url}/api/customers/${businessId}`, {
    method: 'POST',
    headers: { ...authFor(businessId), 'content-type': 'application/json' },
    body: JSON.stringify(payload),
  })
  const body = await response.text()
  if (response.status !== 201) throw new Error(`create failed: ${response.status} ${body}`)
  return (JSON.parse(body) as CustomerCreated).customer.id
}

/** GET /{customerId} without its notes: what an event's `data` must equal. */
export async function customerAsEventData(
  inject: Inject,
  businessId: number,
  id: number,
): Promise<Record<string, unknown>> {
  const response = await inject({
    method: 'GET',
    url: `/api/customers/${businessId}/${id}`,
    headers: authFor(businessId),
  })
  if (response.statusCode !== 200) throw new Error(`get failed: ${response.statusCode}`)
  const { notes: _notes, ...customer } = response.json<{ customer: Record<string, unknown> }>()
    .customer
  return customer
}
