import type { Transaction } from 'kysely'
import {
  addRefund,
  completeSale,
  lockSale,
  settleSaleOwner,
  voidSale,
  type SaleRow,
} from '../db/customer-sales.js'
import { recomputePurchaseHistory } from '../db/customer-purchase-history.js'
import type { Database, PayerMatch } from '../db/database.js'
import { inTransaction, type Executor } from '../db/executor.js'
import { startSaleEvent, type SaleEventIntake, type SalePayer } from '../db/sale-event-intake.js'
import { recordOutcome } from '../db/sales-events.js'
import type { SaleEvent } from '../generated/schemas/SaleEvent.js'
import { isStorableDate } from '../lib/dates.js'
import { Invalid, Unprocessable, invalid } from '../lib/domain-errors.js'
import { isZero, moneyFrom, quantityFrom } from '../lib/money.js'
import { payerOf, saleOwnerOf } from './sales-attribution.js'

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

type Effect = 'applied' | 'no-change'

/** The ledger row of a sale this event is the first news of. */
function freshSaleOf(change: SaleChange, payer: SalePayer | null): SaleEventIntake['sale'] {
  const empty = {
    total_amount: null,
    items_count: null,
    payment_method: null,
    completed_at: null,
    refunded_amount: '0',
    voided: false,
    payer,
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

/** The customer an event's sale goes to, and how the payer decided it (null: it did not). */
interface SaleCustomer {
  customerId: number
  matchedBy: PayerMatch | null
}

/** The sale's customer changed between reading it and locking the sale: the event is tried again. */
class SaleOwnerChanged extends Error {}

/**
 * Applies the change to a sale reported before (a refund or void that came first, or a
 * redelivery). A sale that belongs to nobody takes this event's customer; one that belongs to
 * another customer than the event names is refused.
 */
async function applyToReportedSale(
  trx: Transaction<Database>,
  change: SaleChange,
  sale: {
    businessId: number
    saleId: string
    owner: SaleCustomer | null
    named: number | null
    payer: SalePayer | null
  },
): Promise<{ effect: Effect; row: SaleRow }> {
  const { businessId, saleId, owner } = sale
  const row = await lockSale(trx, businessId, saleId)
  if (!row) throw new Error(`sale ${saleId} vanished while being recorded`)
  const customerId = owner?.customerId ?? null
  if (row.customer_id !== null && row.customer_id !== customerId) {
    if (sale.named !== null) throw unprocessable(`Sale ${saleId} belongs to another customer`)
    throw new SaleOwnerChanged()
  }
  const takesOwner = row.customer_id === null && customerId !== null
  const takesPayer = row.payer_phone_sha256 === null && sale.payer !== null
  if (takesOwner || takesPayer) {
    await settleSaleOwner(trx, businessId, saleId, {
      customerId,
      matchedBy: owner?.matchedBy ?? null,
      payer: sale.payer,
      named: sale.named,
    })
  }
  const settled: SaleRow = takesOwner
    ? { ...row, customer_id: customerId, matched_by: owner?.matchedBy ?? null }
    : row
  const changed = await applyChange(trx, change, row, businessId, saleId)
  return { effect: changed || takesOwner ? 'applied' : 'no-change', row: settled }
}

/** The event's own change to the locked sale row; false when it changes nothing. */
async function applyChange(
  trx: Transaction<Database>,
  change: SaleChange,
  row: SaleRow,
  businessId: number,
  saleId: string,
): Promise<boolean> {
  switch (change.kind) {
    case 'completion': {
      if (row.completed_at !== null) return false
      await completeSale(trx, businessId, saleId, change.completion)
      return true
    }
    case 'refund': {
      if (!(await addRefund(trx, businessId, saleId, change.amount))) {
        throw unprocessable(`Refunds of sale ${saleId} would exceed its total`)
      }
      return true
    }
    case 'void': {
      if (row.voided) return false
      await voidSale(trx, businessId, saleId)
      return true
    }
  }
}

/** numeric_value_out_of_range: a customer's totals would not fit numeric(12, 2). */
const NUMERIC_OVERFLOW = '22003'

/** A sale changes hands only when it is attributed: a few tries always settle it. */
const OWNER_CHANGE_TRIES = 5

async function applyInTransaction<T>(
  db: Executor,
  work: (trx: Transaction<Database>) => Promise<T>,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await inTransaction(db, work)
    } catch (error) {
      if ((error as { code?: unknown }).code === NUMERIC_OVERFLOW) {
        throw unprocessable("The customer's totals would exceed 9,999,999,999.99")
      }
      // Inside a caller's transaction nothing can be rolled back here: the caller retries.
      if (error instanceof SaleOwnerChanged && !db.isTransaction && attempt < OWNER_CHANGE_TRIES) {
        continue
      }
      throw error
    }
  }
}

interface EventFacts {
  event: SaleEvent
  change: SaleChange
  payer: SalePayer | null
}

/**
 * One attempt at the event in one transaction: decide the sale's customer (sales-attribution),
 * then lock, claim, record and recompute as that customer's event, or record it in the ledger
 * without a customer.
 */
async function recordInTransaction(
  trx: Transaction<Database>,
  facts: EventFacts,
): Promise<SaleEventOutcome> {
  const { event, change, payer } = facts
  const { business_id: businessId, customer_id: named, sale_id: saleId } = event.data
  const chosen = await saleOwnerOf(trx, { businessId, saleId, named, payer })
  const intake = await startSaleEvent(trx, {
    business_id: businessId,
    owner: chosen,
    event_id: event.id,
    event_type: event.type,
    sale_id: saleId,
    named_customer_id: named,
    sale: freshSaleOf(change, payer),
  })
  if (!intake.namedExists) {
    throw unprocessable(`Customer ${named} does not exist in business ${businessId}`)
  }
  if (!intake.customerFound) throw new SaleOwnerChanged()
  const owner: SaleCustomer | null =
    intake.ownerId === null
      ? null
      : {
          customerId: intake.ownerId,
          matchedBy: chosen.kind === 'none' || chosen.kind === 'named' ? null : chosen.matchedBy,
        }
  const duplicate = { status: 'duplicate', event_id: event.id } as const
  if (!intake.claimed) return duplicate
  let sale: Pick<SaleRow, 'customer_id' | 'matched_by' | 'payer_phone_sha256'> | null = null
  if (!intake.saleStarted) {
    const reported = await applyToReportedSale(trx, change, {
      businessId,
      saleId,
      owner,
      named,
      payer,
    })
    if (reported.effect === 'no-change') {
      await recordOutcome(trx, businessId, event.id, 'duplicate')
      return duplicate
    }
    sale = reported.row
  }
  if (owner === null) {
    const waiting = payer !== null || (sale?.payer_phone_sha256 ?? null) !== null
    const status = waiting ? 'unattributed' : 'ignored'
    await recordOutcome(trx, businessId, event.id, status)
    return { status, event_id: event.id }
  }
  await recomputePurchaseHistory(trx, businessId, owner.customerId)
  const matchedBy = sale ? sale.matched_by : owner.matchedBy
  return {
    status: 'processed',
    event_id: event.id,
    customer_id: owner.customerId,
    ...(matchedBy ? { matched_by: matchedBy } : {}),
  }
}

/**
 * Applies one sales event exactly once. The sale's customer is decided first (named, the
 * sale's own, or the payer's); then, in one transaction, that customer's history row is locked,
 * the event id claimed, the sale recorded in the ledger (or the change applied to a sale
 * reported before) and the purchase history recomputed from the ledger. A sale nobody owns yet
 * is recorded in the ledger only: `unattributed` when its payer may still register, `ignored`
 * for a walk-in. Redeliveries, any order of arrival and concurrent events end in the same state.
 */
export async function recordSaleEvent(db: Executor, event: SaleEvent): Promise<SaleEventOutcome> {
  const change = changeOf(event)
  const { business_id: businessId, payer: payerInput } = event.data
  const payer = payerInput ? await payerOf(db, businessId, payerInput) : null
  return applyInTransaction(db, (trx) => recordInTransaction(trx, { event, change, payer }))
}
