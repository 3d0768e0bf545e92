import fp from 'fastify-plugin'
import type { Kysely, Transaction } from 'kysely'
import {
  addRefund,
  completeSale,
  insertSale,
  lockSale,
  voidSale,
  type SaleRow,
} from '../db/customer-sales.js'
import { lockPurchaseHistory, recomputePurchaseHistory } from '../db/customer-purchase-history.js'
import type { Database } from '../db/database.js'
import { claimEvent, recordOutcome } from '../db/sales-events.js'
import type { SaleEvent } from '../generated/schemas/SaleEvent.js'
import { isStorableDate } from '../lib/dates.js'
import { HttpError, validationFailed } from '../lib/http-errors.js'
import { isZero, moneyFrom, quantityFrom } from '../lib/money.js'

export type SaleEventStatus = 'processed' | 'duplicate' | 'ignored'

export interface SaleEventOutcome {
  status: SaleEventStatus
  event_id: string
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Applies one sales event exactly once; the webhook and in-process hooks share it. */
    recordSaleEvent: ReturnType<typeof createSaleEventRecorder>
  }
}

const unprocessable = (message: string): HttpError =>
  new HttpError(422, 'Unprocessable event', message)

interface Completion {
  total_amount: string
  items_count: string
  payment_method: SaleRow['payment_method']
  completed_at: string
}

/** The fields each event type needs, checked and turned into decimal strings (400 otherwise). */
function completionOf(data: SaleEvent['data']): Completion {
  const total = data.total_amount === undefined ? undefined : moneyFrom(data.total_amount)
  const items = quantityFrom(data.items_count ?? 0)
  const problems = [
    ...(total === undefined
      ? [
          {
            path: 'data.total_amount',
            message: 'is required for sale.completed, as money with at most two decimals',
          },
        ]
      : []),
    ...(items === undefined
      ? [{ path: 'data.items_count', message: 'must have at most three decimals' }]
      : []),
    ...(data.completed_at === undefined
      ? [{ path: 'data.completed_at', message: 'is required for sale.completed' }]
      : isStorableDate(new Date(data.completed_at))
        ? []
        : [{ path: 'data.completed_at', message: 'must be a real date in years 1 to 9999' }]),
  ]
  if (problems.length > 0 || total === undefined || items === undefined || !data.completed_at) {
    throw validationFailed(problems)
  }
  return {
    total_amount: total,
    items_count: items,
    payment_method: data.payment_method ?? null,
    // In UTC: PostgreSQL refuses offsets beyond ±15:59 that JavaScript accepts.
    completed_at: new Date(data.completed_at).toISOString(),
  }
}

function refundOf(data: SaleEvent['data']): string {
  const amount = data.refund_amount === undefined ? undefined : moneyFrom(data.refund_amount)
  if (amount === undefined || isZero(amount)) {
    throw validationFailed([
      {
        path: 'data.refund_amount',
        message: 'is required for sale.refunded: more than zero, at most two decimals',
      },
    ])
  }
  return amount
}

/** Checks an event's type-specific fields before any database work. */
export function validateSaleEvent(event: SaleEvent): void {
  if (event.type === 'sale.completed') completionOf(event.data)
  if (event.type === 'sale.refunded') refundOf(event.data)
}

type Effect = 'applied' | 'no-change'

async function applyEvent(
  trx: Transaction<Database>,
  event: SaleEvent,
  businessId: number,
  customerId: number,
): Promise<Effect> {
  const saleId = event.data.sale_id
  const key = { business_id: businessId, sale_id: saleId, customer_id: customerId }
  // First news of this sale (the usual case): the event's effect is the whole new row.
  const fresh =
    event.type === 'sale.completed'
      ? { ...key, ...completionOf(event.data) }
      : event.type === 'sale.refunded'
        ? { ...key, refunded_amount: refundOf(event.data) }
        : { ...key, voided: true }
  if (await insertSale(trx, fresh)) return 'applied'
  const sale = await lockSale(trx, businessId, saleId)
  if (!sale) throw new Error(`sale ${saleId} vanished while being recorded`)
  if (Number(sale.customer_id) !== customerId) {
    throw unprocessable(`Sale ${saleId} belongs to another customer`)
  }
  switch (event.type) {
    case 'sale.completed': {
      if (sale.completed_at !== null) return 'no-change'
      await completeSale(trx, businessId, saleId, completionOf(event.data))
      return 'applied'
    }
    case 'sale.refunded': {
      if (!(await addRefund(trx, businessId, saleId, refundOf(event.data)))) {
        throw unprocessable(`Refunds of sale ${saleId} would exceed its total`)
      }
      return 'applied'
    }
    case 'sale.voided': {
      if (sale.voided) return 'no-change'
      await voidSale(trx, businessId, saleId)
      return 'applied'
    }
  }
}

/** numeric_value_out_of_range: a customer's totals would not fit numeric(12, 2). */
const NUMERIC_OVERFLOW = '22003'

export function createSaleEventRecorder(db: Kysely<Database>) {
  async function applyInTransaction<T>(work: (trx: Transaction<Database>) => Promise<T>) {
    try {
      return await db.transaction().execute(work)
    } catch (error) {
      if ((error as { code?: unknown }).code === NUMERIC_OVERFLOW) {
        throw unprocessable("The customer's totals would exceed 9,999,999,999.99")
      }
      throw error
    }
  }

  return async function recordSaleEvent(event: SaleEvent): Promise<SaleEventOutcome> {
    validateSaleEvent(event)
    const { business_id: businessId, customer_id: customerId } = event.data
    if (customerId === null) return { status: 'ignored', event_id: event.id }

    const status = await applyInTransaction(async (trx): Promise<SaleEventStatus> => {
      if (!(await lockPurchaseHistory(trx, businessId, customerId))) {
        throw unprocessable(`Customer ${customerId} does not exist in business ${businessId}`)
      }
      const claimed = await claimEvent(trx, {
        business_id: businessId,
        event_id: event.id,
        event_type: event.type,
        sale_id: event.data.sale_id,
      })
      if (!claimed) return 'duplicate'
      if ((await applyEvent(trx, event, businessId, customerId)) === 'no-change') {
        await recordOutcome(trx, businessId, event.id, 'duplicate')
        return 'duplicate'
      }
      await recomputePurchaseHistory(trx, businessId, customerId)
      return 'processed'
    })
    return { status, event_id: event.id }
  }
}

export default fp(
  async function purchaseHistoryPlugin(app) {
    app.decorate('recordSaleEvent', createSaleEventRecorder(app.db))
  },
  { name: 'purchase-history', dependencies: ['db'] },
)
