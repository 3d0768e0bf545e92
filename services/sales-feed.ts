import { payerLockKey, type SaleRow } from '../db/customer-sales.js'
import type { PayerMatch } from '../db/database.js'
import type { Executor } from '../db/executor.js'
import {
  applySaleEvent,
  SALE_EVENT_RETRY,
  SALE_EVENT_UNPROCESSABLE,
  type SaleEventIntake,
} from '../db/sale-event-intake.js'
import type { SaleEvent } from '../generated/schemas/SaleEvent.js'
import { currentChangeContext } from '../lib/change-context.js'
import { isStorableDate } from '../lib/dates.js'
import { Invalid, Unprocessable, invalid } from '../lib/domain-errors.js'
import { isZero, moneyFrom, quantityFrom } from '../lib/money.js'
import { payerOf } from './sales-attribution.js'

export type SaleEventStatus = 'processed' | 'duplicate' | 'ignored' | 'unattributed'

export interface SaleEventOutcome {
  status: SaleEventStatus
  event_id: string
  /** With `processed`: the customer the sale belongs to. */
  customer_id?: number
  /** With `processed`, when the payer's phone decided the customer. */
  matched_by?: PayerMatch
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

/** numeric_value_out_of_range: a customer's totals would not fit numeric(12, 2). */
const NUMERIC_OVERFLOW = '22003'

/** A sale changes hands only when it is attributed: a few tries always settle it. */
const OWNER_CHANGE_TRIES = 5

const codeOf = (error: unknown): unknown => (error as { code?: unknown }).code

/**
 * Applies one sales event exactly once, in one statement (db/sale-event-intake.ts): the sale's
 * customer is decided (named, the sale's own, or the payer's), that customer's history row
 * locked, the event id claimed, the sale recorded in the ledger (or the change applied to a sale
 * reported before) and the purchase history moved by the sale's change. A sale nobody owns yet
 * is recorded in the ledger only: `unattributed` when its payer may still register, `ignored`
 * for a walk-in. Redeliveries, any order of arrival and concurrent events end in the same state.
 */
export async function recordSaleEvent(db: Executor, event: SaleEvent): Promise<SaleEventOutcome> {
  const change = changeOf(event)
  const { business_id: businessId, customer_id: named, sale_id: saleId } = event.data
  const payer = event.data.payer ? await payerOf(db, businessId, event.data.payer) : null
  const context = db.isTransaction ? undefined : currentChangeContext()
  const intake: SaleEventIntake = {
    business_id: businessId,
    event_id: event.id,
    event_type: event.type,
    sale_id: saleId,
    named_customer_id: named,
    completion: change.kind === 'completion' ? change.completion : null,
    refund_amount: change.kind === 'refund' ? change.amount : null,
    payer,
    payer_lock_key: payer ? payerLockKey(businessId, payer.sha256) : null,
    context: context ? { actor: context.actor, requestId: context.requestId } : null,
  }
  for (let attempt = 1; ; attempt++) {
    try {
      const result = await applySaleEvent(db, intake)
      return {
        status: result.status,
        event_id: event.id,
        ...(result.status === 'processed' && result.customer_id !== null
          ? { customer_id: result.customer_id }
          : {}),
        ...(result.status === 'processed' && result.matched_by
          ? { matched_by: result.matched_by }
          : {}),
      }
    } catch (error) {
      const code = codeOf(error)
      if (code === NUMERIC_OVERFLOW) {
        throw unprocessable("The customer's totals would exceed 9,999,999,999.99")
      }
      if (code === SALE_EVENT_UNPROCESSABLE) throw unprocessable((error as Error).message)
      // Inside a caller's transaction nothing can be rolled back here: the caller retries.
      if (code === SALE_EVENT_RETRY && !db.isTransaction && attempt < OWNER_CHANGE_TRIES) continue
      throw error
    }
  }
}
