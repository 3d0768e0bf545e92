import { sql } from 'kysely'
import type { PayerMatch, SaleEventType } from './database.js'
import type { Executor } from './executor.js'
import { executeFixedPlan } from './prepared-statements.js'

/** The payer an event carried, in the forms the ledger keeps. */
export interface SalePayer {
  /** E.164, when the event gave the number itself. */
  phone: string | null
  /** Lower-case hex SHA-256 of the E.164 digits. */
  sha256: string
}

/** A sales event, checked, with its money and quantities as decimal strings. */
export interface SaleEventIntake {
  business_id: number
  event_id: string
  event_type: SaleEventType
  sale_id: string
  /** The customer the event named, as named (a merged one too); null when it named nobody. */
  named_customer_id: number | null
  /** With sale.completed. */
  completion: {
    total_amount: string
    items_count: string
    payment_method: 'cash' | 'mpesa' | 'credit' | null
    completed_at: string
  } | null
  /** With sale.refunded. */
  refund_amount: string | null
  payer: SalePayer | null
  /** The advisory lock key of the payer (db/customer-sales.ts `payerLockKey`). */
  payer_lock_key: string | null
  /**
   * The change context, for a statement that is its own transaction; null inside a caller's
   * transaction, whose BEGIN set it.
   */
  context: { actor: string; requestId: string | null } | null
}

export interface SaleEventResult {
  status: 'processed' | 'duplicate' | 'ignored' | 'unattributed'
  /** The customer whose sale it is, with `processed`. */
  customer_id: number | null
  matched_by: PayerMatch | null
}

/** Raised by the function: the event cannot apply (the message is for the client). */
export const SALE_EVENT_UNPROCESSABLE = 'PM422'
/** Raised by the function: the sale's customer changed while the event waited; try again. */
export const SALE_EVENT_RETRY = 'PMRTY'

/**
 * Applies a sales event in one statement: payme_record_sale_event (migration
 * 2026-12-04T0100-sale-event-function) decides whose it is, locks that customer's history,
 * claims the event id, records the sale and moves the history by the sale's change. Outside a
 * transaction the statement is its own transaction: one round trip per event.
 */
export async function applySaleEvent(
  db: Executor,
  intake: SaleEventIntake,
): Promise<SaleEventResult> {
  const { completion, payer, context } = intake
  const query = sql<SaleEventResult>`select result_status as status,
      result_customer as customer_id, result_matched_by as matched_by
    from payme_record_sale_event(${intake.business_id}::bigint, ${intake.event_id}::varchar,
      ${intake.event_type}::text, ${intake.sale_id}::varchar, ${intake.named_customer_id}::bigint,
      ${completion?.total_amount ?? null}::numeric, ${completion?.items_count ?? null}::numeric,
      ${completion?.payment_method ?? null}::text, ${completion?.completed_at ?? null}::timestamptz,
      ${intake.refund_amount}::numeric, ${payer?.phone ?? null}::varchar,
      ${payer?.sha256 ?? null}::text, ${intake.payer_lock_key}::text,
      ${context?.actor ?? null}::text, ${context?.requestId ?? null}::text)`
  const [row] = await executeFixedPlan(db, query.compile(db))
  if (!row) throw new Error('payme_record_sale_event returned no row')
  return row
}
