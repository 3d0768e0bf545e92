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
