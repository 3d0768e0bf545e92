import { sql } from 'kysely'
import type { ChangeAction } from './database.js'
import type { Executor } from './executor.js'

export interface ChangeRow {
  id: number
  at: Date
  actor: string
  request_id: string | null
  action: ChangeAction
  fields: Record<string, { from: unknown; to: unknown }>
}

/** A page of the customer's changes, newest first, older than the change `beforeId`. */
export async function listChanges(
  db: Executor,
  businessId: number,
  customerId: number,
  page: { limit: number; beforeId?: number },
): Promise<ChangeRow[]> {
  let query = db
    .selectFrom('customer_changes')
    .select(['id', 'at', 'actor', 'request_id', 'action', 'fields'])
    .where('business_id', '=', businessId)
    .where('customer_id', '=', customerId)
  if (page.beforeId !== undefined) query = query.where('id', '<', page.beforeId)
  return query.orderBy('id', 'desc').limit(page.limit).execute()
}

/**
 * Names the change this transaction makes to every customer it touches (`merged` for a merge's
 * target, whose own row only gets filled fields), instead of what each row's write suggests.
 */
export async function nameTransactionChange(db: Executor, action: ChangeAction): Promise<void> {
  await sql`select set_config('payme.change_action', ${action}, true)`.execute(db)
}

/** The customer's changes after the change `afterId`, oldest first: a keyset batch of an export. */
export async function listChangesAfter(
  db: Executor,
  businessId: number,
  customerId: number,
  afterId: number,
  limit: number,
): Promise<ChangeRow[]> {
  return db
    .selectFrom('customer_changes')
    .select(['id', 'at', 'actor', 'request_id', 'action', 'fields'])
    .where('business_id', '=', businessId)
    .where('customer_id', '=', customerId)
    .where('id', '>', afterId)
    .orderBy('id')
    .limit(limit)
    .execute()
}

/**
 * The erasure: every old and new value of the customer's changes is removed (which fields
 * changed stays), and the erasure's own change — this transaction's — keeps its reason.
 */
export async function eraseChangeValues(
  db: Executor,
  businessId: number,
  customerId: number,
  reason: string,
): Promise<void> {
  await sql`update customer_changes set fields = coalesce(
      (select jsonb_object_agg(key, '{"from": null, "to": null}'::jsonb) from jsonb_each(fields)),
      '{}'::jsonb) || case when transaction_id = pg_current_xact_id()
        then jsonb_build_object('reason', jsonb_build_object('from', null, 'to', ${reason}::text))
        else '{}'::jsonb end
    where business_id = ${businessId} and customer_id = ${customerId}`.execute(db)
}

/** The id of the customer's newest change: what a later change is compared with. */
export async function newestChangeId(
  db: Executor,
  businessId: number,
  customerId: number,
): Promise<number | undefined> {
  const row = await db
    .selectFrom('customer_changes')
    .select('id')
    .where('business_id', '=', businessId)
    .where('customer_id', '=', customerId)
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst()
  return row?.id
}

/**
 * Whether a change after `afterId` set the customer's favorite products other than by a merge
 * or an undo (a user, an import, an erasure): what "unless changed since" means for them.
 */
export async function favoritesChangedAfter(
  db: Executor,
  businessId: number,
  customerId: number,
  afterId: number,
): Promise<boolean> {
  const row = await db
    .selectFrom('customer_changes')
    .select('id')
    .where('business_id', '=', businessId)
    .where('customer_id', '=', customerId)
    .where('id', '>', afterId)
    .where('action', 'not in', ['merged', 'unmerged'])
    .where(sql<boolean>`fields -> 'favorite_products' is not null`)
    .limit(1)
    .executeTakeFirst()
  return row !== undefined
}
