import { createHash } from 'node:crypto'
import type { InjectOptions, LightMyRequestResponse } from 'fastify'
import { signatureHeader } from '../lib/webhook-signature.js'
import { TEST_WEBHOOK_SECRET } from './helper.js'

export interface SaleSpec {
  saleId: string
  /** Amounts in cents, so the model never touches floats. */
  totalCents: number
  items: number
  completedAt: string
  refundsCents: number[]
  voided: boolean
}

export interface SaleEventBody {
  id: string
  type: 'sale.completed' | 'sale.refunded' | 'sale.voided'
  created_at: string
  data: Record<string, unknown>
}

export const money = (cents: number): string =>
  `${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, '0')}`

/** Every event the sales service would send for these sales (one id each). */
export function eventsFor(
  businessId: number,
  customerId: number,
  sales: SaleSpec[],
  idPrefix: string,
): SaleEventBody[] {
  const base = (saleId: string) => ({
    sale_id: saleId,
    business_id: businessId,
    customer_id: customerId,
  })
  const created_at = new Date().toISOString()
  return sales.flatMap((sale) => [
    {
      id: `${idPrefix}-${sale.saleId}-c`,
      type: 'sale.completed' as const,
      created_at,
      data: {
        ...base(sale.saleId),
        total_amount: money(sale.totalCents),
        items_count: sale.items,
        payment_method: 'mpesa',
        completed_at: sale.completedAt,
      },
    },
    ...sale.refundsCents.map((cents, index) => ({
      id: `${idPrefix}-${sale.saleId}-r${index}`,
      type: 'sale.refunded' as const,
      created_at,
      data: { ...base(sale.saleId), refund_amount: money(cents) },
    })),
    ...(sale.voided
      ? [
          {
            id: `${idPrefix}-${sale.saleId}-v`,
            type: 'sale.voided' as const,
            created_at,
            data: base(sale.saleId),
          },
        ]
      : []),
  ])
}

export interface ExpectedMetrics {
  total_purchases: number
  total_spent: string
  customer_lifetime_value: string
  avg_transaction_value: string
  total_items_bought: string
  first_purchase_date: string | null
  last_purchase_date: string | null
}

/** The simple model: voided sales do not count; refunds reduce the amount only. */
export function expectedMetrics(sales: SaleSpec[]): ExpectedMetrics {
  const counted = sales.filter((sale) => !sale.voided)
  const netCents = counted.reduce(
    (sum, sale) => sum + sale.totalCents - sale.refundsCents.reduce((a, b) => a + b, 0),
    0,
  )
  const items = counted.reduce((sum, sale) => sum + sale.items, 0)
  const dates = counted.map((sale) => new Date(sale.completedAt).toISOString()).sort()
  return {
    total_purchases: counted.length,
    total_spent: money(netCents),
    customer_lifetime_value: money(netCents),
    avg_transaction_value: counted.length ? money(Math.round(netCents / counted.length)) : '0.00',
    total_items_bought: `${items}.000`,
    first_purchase_date: dates[0] ?? null,
    last_purchase_date: dates.at(-1) ?? null,
  }
}

type Inject = (options: InjectOptions) => Promise<LightMyRequestResponse>

export function signedEvent(event: SaleEventBody, secret = TEST_WEBHOOK_SECRET): InjectOptions {
  const payload = JSON.stringify(event)
  return {
    method: 'POST',
    url: '/webhooks/sales',
    headers: {
      'content-type': 'application/json',
      'payme-signature': signatureHeader(secret, payload),
    },
    payload,
  }
}

export const postEvent = (inject: Inject, event: SaleEventBody): Promise<LightMyRequestResponse> =>
  inject(signedEvent(event))

/** The payer a sale event may carry: the number in any format, or the SHA-256 M-Pesa shows. */
export type PayerBody = { phone: string } | { phone_sha256: string }

/** SHA-256 (lower-case hex) of a number's E.164 digits without `+`, computed independently of the service. */
export const phoneDigitsSha256 = (digits: string): string =>
  createHash('sha256').update(digits).digest('hex')

/**
 * A Kenyan mobile number written the ways people and tills write it, from its nine national
 * digits (`712345678`): `0712345678`, `+254712345678`, `254712345678`, `0712 345 678`.
 */
export function kenyanPhoneFormats(national: string): [string, string, string, string] {
  return [
    `0${national}`,
    `+254${national}`,
    `254${national}`,
    `0${national.slice(0, 3)} ${national.slice(3, 6)} ${national.slice(6)}`,
  ]
}

/** The payer of a Kenyan number in one of five forms (`format` mod 5): four formats, or the hash. */
export function kenyanPayer(national: string, format: number): PayerBody {
  const index = format % 5
  return index === 4
    ? { phone_sha256: phoneDigitsSha256(`254${national}`) }
    : { phone: kenyanPhoneFormats(national)[index]! }
}

/**
 * The event as the sales service sends it when no customer was picked at the till:
 * `customer_id` null, with the payer when one is given.
 */
export function withoutCustomer(event: SaleEventBody, payer?: PayerBody): SaleEventBody {
  return {
    ...event,
    data: { ...event.data, customer_id: null, ...(payer ? { payer } : {}) },
  }
}
