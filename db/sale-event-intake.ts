import { sql, type Transaction } from 'kysely'
import type { SaleRow } from './customer-sales.js'
import type { Database, PayerMatch, SaleEventType } from './database.js'
import { executeFixedPlan } from './prepared-statements.js'

/** The payer an event carried, in the forms the ledger keeps. */
export interface SalePayer {
  /** E.164, when the event gave the number itself. */
  phone: string | null
  /** Lower-case hex SHA-256 of the E.164 digits. */
  sha256: string
}

export interface SaleEventIntake {
  business_id: number
  /** The customer the sale goes to; null for a sale that belongs to nobody (yet). */
  customer_id: number | null
  event_id: string
  event_type: SaleEventType
  sale_id: string
  /** The ledger row to start when this is the first news of the sale. */
  sale: {
    total_amount: string | null
    items_count: string | null
    payment_method: SaleRow['payment_method']
    completed_at: string | null
    refunded_amount: string
    voided: boolean
    payer: SalePayer | null
    matched_by: PayerMatch | null
  }
}

export interface SaleEventIntakeResult {
  /** The customer's history row exists and is now locked until the transaction ends (always true without a customer). */
  customerFound: boolean
  /** The event id was new and is now claimed; false for a redelivery. */
  claimed: boolean
  /** The sale was new and its ledger row is the one given; false when it was reported before. */
  saleStarted: boolean
}

/**
 * The first three steps of applying a sales event, in one round trip instead of three: lock the
 * customer's history row (events of one customer apply one at a time), claim the event id, and
 * start the sale's ledger row. Each step runs only on the row the step before produced. Both
 * inserts resolve conflicts against committed rows, not the statement's snapshot, so a
 * transaction that waited for the lock still sees the event or sale its predecessor recorded.
 * Without a customer there is no history row to lock: the event id's and the sale's unique keys
 * order concurrent events of one sale.
 */
export async function startSaleEvent(
  trx: Transaction<Database>,
  intake: SaleEventIntake,
): Promise<SaleEventIntakeResult> {
  const { business_id: businessId, customer_id: customerId, sale_id: saleId, sale } = intake
  const locked =
    customerId === null
      ? sql`select 1 as id`
      : sql`select id from customer_purchase_history
          where business_id = ${businessId} and customer_id = ${customerId}
          for update`
  const query = sql<{ locked: number; claimed: number; started: number }>`
    with locked as (${locked}), claimed as (
      insert into sales_events (business_id, event_id, event_type, sale_id, outcome)
      select ${businessId}::bigint, ${intake.event_id}::varchar, ${intake.event_type}::text,
        ${saleId}::varchar, 'processed'
      from locked
      on conflict (business_id, event_id) do nothing
      returning event_id
    ), started as (
      insert into customer_sales (business_id, sale_id, customer_id, total_amount, items_count,
        payment_method, completed_at, refunded_amount, voided, payer_phone, payer_phone_sha256,
        matched_by)
      select ${businessId}::bigint, ${saleId}::varchar, ${customerId}::bigint,
        ${sale.total_amount}::numeric, ${sale.items_count}::numeric, ${sale.payment_method}::text,
        ${sale.completed_at}::timestamptz, ${sale.refunded_amount}::numeric, ${sale.voided}::boolean,
        ${sale.payer?.phone ?? null}::varchar, decode(${sale.payer?.sha256 ?? null}::text, 'hex'),
        ${sale.matched_by}::text
      from claimed
      on conflict (business_id, sale_id) do nothing
      returning sale_id
    )
    select (select count(*) from locked)::int as locked,
      (select count(*) from claimed)::int as claimed,
      (select count(*) from started)::int as started`
  const [row] = await executeFixedPlan(trx, query.compile(trx))
  return {
    customerFound: (row?.locked ?? 0) > 0,
    claimed: (row?.claimed ?? 0) > 0,
    saleStarted: (row?.started ?? 0) > 0,
  }
}
