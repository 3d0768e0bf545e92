import { sql, type Selectable } from 'kysely'
import type { CustomerRow } from './customers.js'
import type { CustomerMergesTable, MergeMoved } from './database.js'
import type { Executor } from './executor.js'

export type MergeRow = Selectable<CustomerMergesTable>

/**
 * Tries, without waiting, the merge lock of each customer (taken before any other lock by a
 * merge or an undo, released at commit); returns the customers whose lock another transaction
 * holds. Two merges over one customer never wait for each other: the later one is refused.
 */
export async function tryLockMerging(
  db: Executor,
  businessId: number,
  customerIds: number[],
): Promise<number[]> {
  const { rows } = await sql<{ id: number }>`
    select id from unnest(${customerIds}::bigint[]) with ordinality as c(id, n)
    where not pg_try_advisory_xact_lock(hashtextextended('merge:' || ${businessId} || ':' || id, 0))
    order by n`.execute(db)
  return rows.map((row) => row.id)
}

/** The customers' phone and e-mail as they stand (no lock): the contact keys to lock first. */
export async function contactsOf(
  db: Executor,
  businessId: number,
  customerIds: number[],
): Promise<Pick<CustomerRow, 'id' | 'phone' | 'email'>[]> {
  if (customerIds.length === 0) return []
  return db
    .selectFrom('customers')
    .select(['id', 'phone', 'email'])
    .where('business_id', '=', businessId)
    .where('id', 'in', customerIds)
    .execute()
}

/** The customers' rows, locked in id order for the rest of the transaction. */
export async function lockCustomers(
  db: Executor,
  businessId: number,
  customerIds: number[],
): Promise<CustomerRow[]> {
  if (customerIds.length === 0) return []
  return db
    .selectFrom('customers')
    .selectAll()
    .where('business_id', '=', businessId)
    .where('id', 'in', customerIds)
    .orderBy('id')
    .forNoKeyUpdate()
    .execute()
}

/**
 * Locks these customers' history rows in id order and raises their merge epoch, in one
 * statement: a sale event waiting for one of these rows finds the epoch changed when this
 * commits, and decides its customer again (db/sale-event-intake.ts).
 */
export async function lockHistoriesForMerge(
  db: Executor,
  businessId: number,
  customerIds: number[],
): Promise<void> {
  await sql`update customer_purchase_history h set merge_epoch = h.merge_epoch + 1
    from (select customer_id from customer_purchase_history
      where business_id = ${businessId} and customer_id = any(${customerIds}::bigint[])
      order by customer_id
      for update) l
    where h.business_id = ${businessId} and h.customer_id = l.customer_id`.execute(db)
}

export interface OwnedSale {
  sale_id: string
  customer_id: number
  named_customer_id: number | null
  matched_by: string | null
}

/** Every sale of these customers, locked in sale id order. */
export async function lockSalesOf(
  db: Executor,
  businessId: number,
  customerIds: number[],
): Promise<OwnedSale[]> {
  const { rows } = await sql<OwnedSale>`
    select sale_id, customer_id, named_customer_id, matched_by from customer_sales
    where business_id = ${businessId} and customer_id = any(${customerIds}::bigint[])
    order by sale_id
    for update`.execute(db)
  return rows
}

/** Gives every sale of the sources to the target. */
export async function moveSales(
  db: Executor,
  businessId: number,
  sourceIds: number[],
  targetId: number,
): Promise<void> {
  await sql`update customer_sales set customer_id = ${targetId}, updated_at = now()
    where business_id = ${businessId} and customer_id = any(${sourceIds}::bigint[])`.execute(db)
}

/** Gives every note of the sources to the target; returns which note came from whom. */
export async function moveNotes(
  db: Executor,
  businessId: number,
  sourceIds: number[],
  targetId: number,
): Promise<{ id: number; source_id: number }[]> {
  // A note's updated_at is its content's: moving it leaves it as written.
  const { rows } = await sql<{ id: number; source_id: number }>`
    with moved as (
      select id, customer_id as source_id from customer_notes
      where business_id = ${businessId} and customer_id = any(${sourceIds}::bigint[])
      for update
    )
    update customer_notes n set customer_id = ${targetId}
    from moved where n.business_id = ${businessId} and n.id = moved.id
    returning n.id, moved.source_id`.execute(db)
  return rows
}

/** The sources become inactive, merged into the target, one version up. */
export async function markMerged(
  db: Executor,
  businessId: number,
  sourceIds: number[],
  targetId: number,
): Promise<void> {
  await db
    .updateTable('customers')
    .set({
      is_active: false,
      merged_into: targetId,
      version: sql`version + 1`,
      updated_at: sql`now()`,
    })
    .where('business_id', '=', businessId)
    .where('id', 'in', sourceIds)
    .execute()
}

/** A source is active again, no longer merged, one version up. */
export async function markUnmerged(
  db: Executor,
  businessId: number,
  sourceIds: number[],
): Promise<CustomerRow[]> {
  return db
    .updateTable('customers')
    .set({ is_active: true, merged_into: null, version: sql`version + 1`, updated_at: sql`now()` })
    .where('business_id', '=', businessId)
    .where('id', 'in', sourceIds)
    .returningAll()
    .execute()
}

/** Favorite products and do_not_contact of these customers, in id order. */
export async function contactChoicesOf(db: Executor, businessId: number, customerIds: number[]) {
  return db
    .selectFrom('customer_preferences')
    .select(['customer_id', 'favorite_products', 'do_not_contact'])
    .where('business_id', '=', businessId)
    .where('customer_id', 'in', customerIds)
    .orderBy('customer_id')
    .execute()
}

/** Sets the favorite products and do_not_contact of one customer (its version moves elsewhere). */
export async function setContactChoices(
  db: Executor,
  businessId: number,
  customerId: number,
  choices: { favorite_products: number[]; do_not_contact: boolean },
): Promise<void> {
  await db
    .updateTable('customer_preferences')
    .set({ ...choices, updated_at: sql`now()` })
    .where('business_id', '=', businessId)
    .where('customer_id', '=', customerId)
    .execute()
}

export async function insertMerge(
  db: Executor,
  merge: { business_id: number; target_id: number; source_ids: number[]; moved: MergeMoved },
): Promise<MergeRow> {
  return db
    .insertInto('customer_merges')
    .values({ ...merge, moved: JSON.stringify(merge.moved) })
    .returningAll()
    .executeTakeFirstOrThrow()
}

/** The merge, with its age in days; undefined when the business has no such merge. */
export async function findMerge(
  db: Executor,
  businessId: number,
  mergeId: number,
): Promise<(MergeRow & { age_days: number }) | undefined> {
  return db
    .selectFrom('customer_merges')
    .selectAll()
    .select(sql<number>`extract(epoch from now() - created_at)::float8 / 86400`.as('age_days'))
    .where('business_id', '=', businessId)
    .where('id', '=', mergeId)
    .executeTakeFirst()
}

/** Marks the merge undone, unless it was already; undefined then. */
export async function markUndone(
  db: Executor,
  businessId: number,
  mergeId: number,
): Promise<MergeRow | undefined> {
  return db
    .updateTable('customer_merges')
    .set({ undone_at: sql`now()` })
    .where('business_id', '=', businessId)
    .where('id', '=', mergeId)
    .where('undone_at', 'is', null)
    .returningAll()
    .executeTakeFirst()
}

/**
 * The sales that go back to a source on undo, from the target: those the merge moved, and any
 * whose event named the source (or a customer merged into it), whenever it arrived.
 */
export async function returnSales(
  db: Executor,
  businessId: number,
  targetId: number,
  sourceId: number,
  movedSaleIds: string[],
): Promise<number> {
  const result = await sql`update customer_sales set customer_id = ${sourceId}, updated_at = now()
    where business_id = ${businessId} and customer_id = ${targetId}
      and (sale_id = any(${movedSaleIds}::varchar[]) or named_customer_id = ${sourceId}
        or named_customer_id in (select id from customers
          where business_id = ${businessId} and merged_into = ${sourceId}))`.execute(db)
  return Number(result.numAffectedRows ?? 0)
}

/** The notes the merge moved go back to their source (those still with the target). */
export async function returnNotes(
  db: Executor,
  businessId: number,
  targetId: number,
  sourceId: number,
  noteIds: number[],
): Promise<void> {
  if (noteIds.length === 0) return
  await sql`update customer_notes set customer_id = ${sourceId}
    where business_id = ${businessId} and customer_id = ${targetId}
      and id = any(${noteIds}::bigint[])`.execute(db)
}

/**
 * The erasure: the values a merge of the customer filled (its phone, e-mail or address, or
 * another's given to it) leave the merge's record; which fields were filled stays.
 */
export async function eraseFilledValues(
  db: Executor,
  businessId: number,
  customerId: number,
): Promise<void> {
  await sql`update customer_merges set moved = jsonb_set(moved, '{filled}', coalesce(
      (select jsonb_object_agg(key, to_jsonb('[erased]'::text)) from jsonb_each(moved -> 'filled')),
      '{}'::jsonb))
    where business_id = ${businessId}
      and (target_id = ${customerId} or ${customerId}::bigint = any(source_ids))
      and moved -> 'filled' <> '{}'::jsonb`.execute(db)
}
