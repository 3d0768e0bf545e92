import { sql, type RawBuilder } from 'kysely'
import type { SaleRow } from './customer-sales.js'
import type { PayerMatch, SaleEventType } from './database.js'
import type { Executor } from './executor.js'
import { executeFixedPlan } from './prepared-statements.js'

/** Merges followed from a named customer to its survivor, at most (a chain is never longer). */
const MAX_MERGE_HOPS = 20

/** The payer an event carried, in the forms the ledger keeps. */
export interface SalePayer {
  /** E.164, when the event gave the number itself. */
  phone: string | null
  /** Lower-case hex SHA-256 of the E.164 digits. */
  sha256: string
}

/**
 * Whose event this is: the customer the event names, or the survivor of the merges it went
 * through (resolved in the intake's own statement); the sale's own customer; the oldest active
 * customer with the payer's phone (looked up in the intake's own statement, so after the payer's
 * lock was taken); or nobody.
 */
export type IntakeOwner =
  | { kind: 'named'; customerId: number }
  | { kind: 'customer'; customerId: number; matchedBy: PayerMatch | null }
  | { kind: 'payer'; sha256: string; matchedBy: PayerMatch }
  | { kind: 'none' }

export interface SaleEventIntake {
  business_id: number
  owner: IntakeOwner
  event_id: string
  event_type: SaleEventType
  sale_id: string
  /** The customer the event named, as named (a merged one too); null when it named nobody. */
  named_customer_id: number | null
  /** The ledger row to start when this is the first news of the sale. */
  sale: {
    total_amount: string | null
    items_count: string | null
    payment_method: SaleRow['payment_method']
    completed_at: string | null
    refunded_amount: string
    voided: boolean
    payer: SalePayer | null
  }
}

export interface SaleEventIntakeResult {
  /**
   * The owner's history row is locked: false when a named customer does not exist, or when a
   * merge or undo involving it committed while the event waited (decide again); always true for
   * a payer or nobody.
   */
  customerFound: boolean
  /** The named customer exists in the business (merged or not); true when none is named. */
  namedExists: boolean
  /** The customer whose history row is now locked until the transaction ends; null: nobody. */
  ownerId: number | null
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
 * order concurrent events of one sale. Runs inside the event's transaction.
 */
export async function startSaleEvent(
  trx: Executor,
  intake: SaleEventIntake,
): Promise<SaleEventIntakeResult> {
  const { business_id: businessId, owner, sale_id: saleId, sale } = intake
  const historyOf = (customer: RawBuilder<unknown>) =>
    sql`select customer_id from customer_purchase_history
      where business_id = ${businessId} and customer_id = ${customer}
      for update`
  // The named customer's survivor as this statement's snapshot sees it, and its merge epoch.
  // Its history row is locked only at that epoch: the uncorrelated subqueries keep their
  // values when PostgreSQL re-checks a row that changed while the lock was awaited, so a merge
  // or undo committed meanwhile leaves nothing locked, and the event decides again.
  const survivor =
    owner.kind === 'named'
      ? sql`chain (id, merged_into, hops) as (
          select id, merged_into, 0 from customers
          where business_id = ${businessId} and id = ${owner.customerId}::bigint
          union all
          select c.id, c.merged_into, chain.hops + 1 from chain
          join customers c on c.business_id = ${businessId} and c.id = chain.merged_into
          where chain.hops < ${sql.lit(MAX_MERGE_HOPS)}
        ), survivor as (
          select h.customer_id as id, h.merge_epoch from customer_purchase_history h
          where h.business_id = ${businessId} and h.customer_id = (
            select id from chain
            where merged_into is null or hops = ${sql.lit(MAX_MERGE_HOPS)}
            order by hops limit 1)
        ),`
      : sql``
  // A named customer must exist (no row: nothing is claimed); a payer's lookup may find nobody.
  const [locked, owners, matchedBy] =
    owner.kind === 'named'
      ? [
          sql`select customer_id from customer_purchase_history
            where business_id = ${businessId} and customer_id = (select id from survivor)
              and merge_epoch = (select merge_epoch from survivor)
            for update`,
          sql`locked`,
          null,
        ]
      : owner.kind === 'customer'
        ? [historyOf(sql`${owner.customerId}::bigint`), sql`locked`, owner.matchedBy]
        : owner.kind === 'payer'
          ? [
              historyOf(sql`(select id from customers
              where business_id = ${businessId} and is_active
                and phone_sha256 = decode(${owner.sha256}::text, 'hex')
              order by id limit 1)`),
              sql`(select (select customer_id from locked) as customer_id)`,
              owner.matchedBy,
            ]
          : [sql`select null::bigint as customer_id`, sql`locked`, null]
  const query = sql<{
    found: number
    named: number
    owner: number | null
    claimed: number
    started: number
  }>`
    with recursive ${survivor} locked as (${locked}), owner as (select customer_id from ${owners} o), claimed as (
      insert into sales_events (business_id, event_id, event_type, sale_id, outcome)
      select ${businessId}::bigint, ${intake.event_id}::varchar, ${intake.event_type}::text,
        ${saleId}::varchar, 'processed'
      from owner
      on conflict (business_id, event_id) do nothing
      returning event_id
    ), started as (
      insert into customer_sales (business_id, sale_id, customer_id, total_amount, items_count,
        payment_method, completed_at, refunded_amount, voided, payer_phone, payer_phone_sha256,
        matched_by, named_customer_id)
      select ${businessId}::bigint, ${saleId}::varchar, owner.customer_id,
        ${sale.total_amount}::numeric, ${sale.items_count}::numeric, ${sale.payment_method}::text,
        ${sale.completed_at}::timestamptz, ${sale.refunded_amount}::numeric, ${sale.voided}::boolean,
        ${sale.payer?.phone ?? null}::varchar, decode(${sale.payer?.sha256 ?? null}::text, 'hex'),
        case when owner.customer_id is null or ${sale.payer?.sha256 ?? null}::text is null then null
          else ${matchedBy}::text end,
        ${intake.named_customer_id}::bigint
      from claimed, owner
      on conflict (business_id, sale_id) do nothing
      returning sale_id
    )
    select (select count(*) from owner)::int as found,
      ${owner.kind === 'named' ? sql`(select count(*) from survivor)::int` : sql`1`} as named,
      (select customer_id from owner) as owner,
      (select count(*) from claimed)::int as claimed,
      (select count(*) from started)::int as started`
  const [row] = await executeFixedPlan(trx, query.compile(trx))
  return {
    customerFound: (row?.found ?? 0) > 0,
    namedExists: (row?.named ?? 0) > 0,
    ownerId: row?.owner ?? null,
    claimed: (row?.claimed ?? 0) > 0,
    saleStarted: (row?.started ?? 0) > 0,
  }
}
