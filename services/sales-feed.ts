import type { Transaction } from 'kysely'
import { addRefund, completeSale, lockSale, voidSale, type SaleRow } from '../db/customer-sales.js'
import { recomputePurchaseHistory } from '../db/customer-purchase-history.js'
import type { Database } from '../db/database.js'
import { inTransaction, type Executor } from '../db/executor.js'
import { startSaleEvent, type SaleEventIntake } from '../db/sale-event-intake.js'
import { recordOutcome } from '../db/sales-events.js'
import type { SaleEvent } from '../generated/schemas/SaleEvent.js'
import { isStorableDate } from '../lib/dates.js'
import { Invalid, Unprocessable, invalid } from '../lib/domain-errors.js'
import { isZero, moneyFrom, quantityFrom } from '../lib/money.js'

export type SaleEventStatus = 'processed' | 'duplicate' | 'ignored'

export interface SaleEventOutcome {
  status: SaleEventStatus
  event_id: string
}

const unprocessable = (message: string): Unprocessable =>
  new Unprocessable('Unprocessable event', message)

interface Completion {
  total_amount: string
  items_count: string
  payment_method: SaleRow['payment_method']
  completed_at: string
}

/** The fields each event type needs, checked and turned into decimal strings (`Invalid` otherwise). */
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
    throw new Invalid(problems)
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
    throw invalid(
      'data.refund_amount',
      'is required for sale.refunded: more than zero, at most two decimals',
    )
  }
  return amount
}

/** What an event does to its sale, checked and in decimal strings (`Invalid` before any database work). */
type SaleChange =
  | { kind: 'completion'; completion: Completion }
  | { kind: 'refund'; amount: string }
  | { kind: 'void' }

function changeOf(event: SaleEvent): SaleChange {
  switch (event.type) {
    case 'sale.completed':
      return { kind: 'completion', completion: completionOf(event.data) }
    case 'sale.refunded':
      return { kind: 'refund', amount: refundOf(event.data) }
    case 'sale.voided':
      return { kind: 'void' }
  }
}

type Effect = 'applied' | 'no-change'

/** The ledger row of a sale this event is the first news of. */
function freshSaleOf(change: SaleChange): SaleEventIntake['sale'] {
  const empty = {
    total_amount: null,
    items_count: null,
    payment_method: null,
    completed_at: null,
    refunded_amount: '0',
    voided: false,
  }
  switch (change.kind) {
    case 'completion':
      return { ...empty, ...change.completion }
    case 'refund':
      return { ...empty, refunded_amount: change.amount }
    case 'void':
      return { ...empty, voided: true }
  }
}

/** Applies the change to a sale reported before (a refund or void that came first, or a redelivery). */
async function applyToReportedSale(
  trx: Transaction<Database>,
  change: SaleChange,
  sale: { businessId: number; saleId: string; customerId: number },
): Promise<Effect> {
  const { businessId, saleId, customerId } = sale
  const row = await lockSale(trx, businessId, saleId)
  if (!row) throw new Error(`sale ${saleId} vanished while being recorded`)
  if (row.customer_id !== customerId) {
    throw unprocessable(`Sale ${saleId} belongs to another customer`)
  }
  switch (change.kind) {
    case 'completion': {
      if (row.completed_at !== null) return 'no-change'
      await completeSale(trx, businessId, saleId, change.completion)
      return 'applied'
    }
    case 'refund': {
      if (!(await addRefund(trx, businessId, saleId, change.amount))) {
        throw unprocessable(`Refunds of sale ${saleId} would exceed its total`)
      }
      return 'applied'
    }
    case 'void': {
      if (row.voided) return 'no-change'
      await voidSale(trx, businessId, saleId)
      return 'applied'
    }
  }
}

/** numeric_value_out_of_range: a customer's totals would not fit numeric(12, 2). */
const NUMERIC_OVERFLOW = '22003'

async function applyInTransaction<T>(
  db: Executor,
  work: (trx: Transaction<Database>) => Promise<T>,
): Promise<T> {
  try {
    return await inTransaction(db, work)
  } catch (error) {
    if ((error as { code?: unknown }).code === NUMERIC_OVERFLOW) {
      throw unprocessable("The customer's totals would exceed 9,999,999,999.99")
    }
    throw error
  }
}

/**
 * Applies one sales event exactly once: locks the customer's history row, claims the event id,
 * records the sale in the ledger (or applies the change to a sale reported before) and
 * recomputes the customer's purchase history from the ledger, in one transaction. Redeliveries,
 * any order of arrival and concurrent events for one customer end in the same state.
 */
export async function recordSaleEvent(db: Executor, event: SaleEvent): Promise<SaleEventOutcome> {
  const change = changeOf(event)
  const { business_id: businessId, customer_id: customerId, sale_id: saleId } = event.data
  if (customerId === null) return { status: 'ignored', event_id: event.id }

  const status = await applyInTransaction(db, async (trx): Promise<SaleEventStatus> => {
    const intake = await startSaleEvent(trx, {
      business_id: businessId,
      customer_id: customerId,
      event_id: event.id,
      event_type: event.type,
      sale_id: saleId,
      sale: freshSaleOf(change),
    })
    if (!intake.customerFound) {
      throw unprocessable(`Customer ${customerId} does not exist in business ${businessId}`)
    }
    if (!intake.claimed) return 'duplicate'
    if (
      !intake.saleStarted &&
      (await applyToReportedSale(trx, change, { businessId, saleId, customerId })) === 'no-change'
    ) {
      await recordOutcome(trx, businessId, event.id, 'duplicate')
      return 'duplicate'
    }
    await recomputePurchaseHistory(trx, businessId, customerId)
    return 'processed'
  })
  return { status, event_id: event.id }
}
