import type { Transaction } from 'kysely'
import {
  favoritesChangedAfter,
  nameTransactionChange,
  newestChangeId,
} from '../db/customer-changes.js'
import {
  contactChoicesOf,
  contactsOf,
  findMerge,
  insertMerge,
  lockCustomers,
  lockHistoriesForMerge,
  lockSalesOf,
  markMerged,
  markUndone,
  markUnmerged,
  moveNotes,
  moveSales,
  returnNotes,
  returnSales,
  setContactChoices,
  tryLockMerging,
  type MergeRow,
} from '../db/customer-merges.js'
import { recomputePurchaseHistory } from '../db/customer-purchase-history.js'
import {
  customerExists,
  updateCustomer as updateCustomerRow,
  type CustomerRow,
} from '../db/customers.js'
import type { Database, MergeMoved } from '../db/database.js'
import { inTransaction, type Executor } from '../db/executor.js'
import type { Customer } from '../generated/schemas/Customer.js'
import type { Merge } from '../generated/schemas/Merge.js'
import type { MergeUndone } from '../generated/schemas/MergeUndone.js'
import { Conflict, NotFound, Unprocessable, type ErrorDetail } from '../lib/domain-errors.js'
import { grantAgain, withdrawEverything } from './consents.js'
import { lockContactKeys, refreshDuplicates } from './duplicates.js'
import { toCustomer } from './representations.js'
import { attachPayerSales } from './sales-attribution.js'

/** At most this many sources in one merge. */
export const MAX_MERGE_SOURCES = 10
/** A merge can be undone this many days after it was made. */
export const UNDO_DAYS = 30
/** favorite_products holds at most this many ids (ProductIds). */
const MAX_FAVORITES = 100

const FILLED_FIELDS = ['phone', 'email', 'address'] as const

const refused = (details: ErrorDetail[]): Unprocessable =>
  new Unprocessable('Merge refused', 'These customers cannot be merged', details)

const mergeOf = (row: MergeRow): Merge => ({
  id: row.id,
  target_id: row.target_id,
  source_ids: row.source_ids,
  created_at: row.created_at.toISOString(),
})

/** What the request alone can refuse: none, more than 10, the target, one named twice. */
function shapeProblems(targetId: number, sourceIds: number[]): ErrorDetail[] {
  if (sourceIds.length === 0) return [{ path: 'source_ids', message: 'must name a customer' }]
  if (sourceIds.length > MAX_MERGE_SOURCES) {
    return [{ path: 'source_ids', message: `must name at most ${MAX_MERGE_SOURCES} customers` }]
  }
  return sourceIds.flatMap((id, index) => {
    const path = `source_ids.${index}`
    if (id === targetId) return [{ path, message: 'is the target itself' }]
    if (sourceIds.indexOf(id) !== index) return [{ path, message: `repeats customer ${id}` }]
    return []
  })
}

/**
 * The merge locks of every customer (none may be in another merge or undo: 409), then, in the
 * sales feed's order, every contact key the customers have, their rows in id order, their
 * history rows in id order. Returns the locked rows by id.
 */
async function lockInvolved(
  trx: Transaction<Database>,
  businessId: number,
  customerIds: number[],
): Promise<Map<number, CustomerRow>> {
  const busy = await tryLockMerging(trx, businessId, customerIds)
  if (busy.length > 0) {
    throw new Conflict(
      'Merge in progress',
      `Customer ${busy[0]} is being merged or unmerged by another request`,
    )
  }
  await lockContactKeys(trx, businessId, await contactsOf(trx, businessId, customerIds))
  const rows = await lockCustomers(trx, businessId, customerIds)
  // A contact changed between the read and the row's lock: its keys too (free when the same).
  await lockContactKeys(trx, businessId, rows)
  await lockHistoriesForMerge(trx, businessId, customerIds)
  return new Map(rows.map((row) => [row.id, row]))
}

/** Why each source cannot be merged, as found under its lock. */
function sourceProblems(sourceIds: number[], rows: Map<number, CustomerRow>): ErrorDetail[] {
  return sourceIds.flatMap((id, index) => {
    const path = `source_ids.${index}`
    const row = rows.get(id)
    if (!row) return [{ path, message: `customer ${id} does not exist in this business` }]
    if (row.merged_into !== null) {
      return [{ path, message: `customer ${id} is merged into ${row.merged_into}` }]
    }
    if (!row.is_active) return [{ path, message: `customer ${id} is inactive` }]
    return []
  })
}

export interface MergeResult {
  customer: Customer
  merge: Merge
  attachedSales: number
}

/**
 * Merges the sources into the target in one transaction (see the merge endpoint): locks as the
 * sales feed takes them (contact keys, then the customers' rows, history rows and sale rows in
 * id order), so a sale arriving meanwhile is applied before or after, never lost or doubled.
 * Records in customer_merges exactly what moved and what was filled, for the undo.
 */
export async function mergeCustomers(
  db: Executor,
  businessId: number,
  targetId: number,
  sourceIds: number[],
): Promise<MergeResult> {
  const shape = shapeProblems(targetId, sourceIds)
  if (shape.length > 0) {
    // A missing target is a 404 whatever the list says.
    if (!(await customerExists(db, businessId, targetId))) throw new NotFound('customer')
    throw refused(shape)
  }
  const involved = [targetId, ...sourceIds].sort((a, b) => a - b)
  return inTransaction(db, async (trx) => {
    // The target's filled fields and moved sales are part of the merge, not an update.
    await nameTransactionChange(trx, 'merged')
    const rows = await lockInvolved(trx, businessId, involved)
    const target = rows.get(targetId)
    if (!target) throw new NotFound('customer')
    const problems = sourceProblems(sourceIds, rows)
    if (!target.is_active) {
      problems.unshift({
        path: 'customerId',
        message:
          target.merged_into === null
            ? `customer ${targetId} is inactive`
            : `customer ${targetId} is merged into ${target.merged_into}`,
      })
    }
    if (problems.length > 0) throw refused(problems)
    const sources = sourceIds.map((id) => rows.get(id) as CustomerRow)

    const sales = await lockSalesOf(trx, businessId, sourceIds)
    await moveSales(trx, businessId, sourceIds, targetId)
    const notes = await moveNotes(trx, businessId, sourceIds, targetId)

    // The target's empty fields, from the sources in the order given.
    const filled: MergeMoved['filled'] = {}
    for (const field of FILLED_FIELDS) {
      if (target[field] !== null) continue
      const value = sources.find((source) => source[field] !== null)?.[field]
      if (value) filled[field] = value
    }

    const choices = await contactChoicesOf(trx, businessId, involved)
    const targetChoices = choices.find((row) => row.customer_id === targetId)
    if (!targetChoices) throw new Error(`customer ${targetId} has no preferences row`)
    const favorites = [...targetChoices.favorite_products]
    for (const id of sourceIds) {
      for (const product of choices.find((row) => row.customer_id === id)?.favorite_products ??
        []) {
        if (favorites.length < MAX_FAVORITES && !favorites.includes(product))
          favorites.push(product)
      }
    }
    const added = favorites.slice(targetChoices.favorite_products.length)
    const turnedOn =
      !targetChoices.do_not_contact &&
      choices.some((row) => sourceIds.includes(row.customer_id) && row.do_not_contact)
    if (added.length > 0 || turnedOn) {
      await setContactChoices(trx, businessId, targetId, {
        favorite_products: favorites,
        do_not_contact: targetChoices.do_not_contact || turnedOn,
      })
    }
    // do_not_contact is a view of the consent ledger: the target's granted consents withdrawn.
    const consentsWithdrawn = turnedOn
      ? await withdrawEverything(
          trx,
          businessId,
          targetId,
          `merge of customers ${sourceIds.join(', ')}: do_not_contact of a source`,
        )
      : []

    await markMerged(trx, businessId, sourceIds, targetId)
    const merged = await updateCustomerRow(trx, businessId, targetId, filled)
    if (!merged) throw new Error(`customer ${targetId} vanished under its lock`)
    for (const id of involved) await recomputePurchaseHistory(trx, businessId, id)
    for (const source of sources) await refreshDuplicates(trx, businessId, source.id)
    await refreshDuplicates(trx, businessId, targetId)
    const attachedSales =
      filled.phone === undefined
        ? 0
        : await attachPayerSales(trx, businessId, targetId, filled.phone)

    const targetChangeId = await newestChangeId(trx, businessId, targetId)
    const record = await insertMerge(trx, {
      business_id: businessId,
      target_id: targetId,
      source_ids: sourceIds,
      moved: {
        sources: sourceIds.map((id) => ({
          id,
          note_ids: notes.filter((note) => note.source_id === id).map((note) => note.id),
          sales: sales
            .filter((sale) => sale.customer_id === id)
            .map((sale) => ({
              sale_id: sale.sale_id,
              by: sale.matched_by === null ? ('named' as const) : ('payer' as const),
            })),
        })),
        filled,
        favorite_products_added: added,
        favorite_products_after: favorites,
        do_not_contact_turned_on: turnedOn,
        consents_withdrawn: consentsWithdrawn,
        ...(targetChangeId === undefined ? {} : { target_change_id: targetChangeId }),
      },
    })
    return { customer: toCustomer(merged), merge: mergeOf(record), attachedSales }
  })
}

const sameList = (a: number[], b: number[]) =>
  a.length === b.length && a.every((value, index) => value === b[index])

/**
 * Undoes a merge within 30 days (see the undo endpoint), with the merge's lock order. 404 for
 * no such merge; 409 when undone already, too old, or its target was merged away since.
 */
export async function undoMerge(
  db: Executor,
  businessId: number,
  mergeId: number,
): Promise<MergeUndone['merge'] & { attachedSales: number }> {
  return inTransaction(db, async (trx) => {
    await nameTransactionChange(trx, 'unmerged')
    const merge = await findMerge(trx, businessId, mergeId)
    if (!merge) throw new NotFound('resource')
    const { target_id: targetId, source_ids: sourceIds, moved } = merge
    const involved = [targetId, ...sourceIds].sort((a, b) => a - b)
    const rows = await lockInvolved(trx, businessId, involved)
    // Read again under the customers' merge locks: a concurrent undo has committed or not.
    const current = await findMerge(trx, businessId, mergeId)
    if (!current) throw new NotFound('resource')
    if (current.undone_at !== null) {
      throw new Conflict(
        'Merge already undone',
        `Merge ${mergeId} was undone at ${current.undone_at.toISOString()}`,
      )
    }
    if (current.age_days > UNDO_DAYS) {
      throw new Conflict('Merge too old', `Merges can be undone within ${UNDO_DAYS} days`)
    }
    const target = rows.get(targetId)
    if (!target) throw new Error(`customer ${targetId} of merge ${mergeId} vanished`)
    if (target.merged_into !== null) {
      throw new Conflict(
        'Target merged since',
        `Customer ${targetId} was merged into ${target.merged_into}: undo that merge first`,
      )
    }

    await lockSalesOf(trx, businessId, [targetId])
    for (const source of moved.sources) {
      const saleIds = source.sales.map((sale) => sale.sale_id)
      await returnSales(trx, businessId, targetId, source.id, saleIds)
      await returnNotes(trx, businessId, targetId, source.id, source.note_ids)
    }

    // Fields the merge filled, unless changed since.
    const cleared: Partial<Record<(typeof FILLED_FIELDS)[number], null>> = {}
    for (const field of FILLED_FIELDS) {
      const value = moved.filled[field]
      if (value !== undefined && target[field] === value) cleared[field] = null
    }
    const [choices] = await contactChoicesOf(trx, businessId, [targetId])
    if (choices) {
      // Other merges into the target since, and their undos, do not count as changes: undone in
      // any order, the merges leave the favorites the target had.
      const favoritesKept =
        moved.target_change_id === undefined
          ? sameList(choices.favorite_products, moved.favorite_products_after)
          : !(await favoritesChangedAfter(trx, businessId, targetId, moved.target_change_id))
      const favorites = favoritesKept
        ? choices.favorite_products.filter(
            (product) => !moved.favorite_products_added.includes(product),
          )
        : choices.favorite_products
      const doNotContact =
        moved.do_not_contact_turned_on && choices.do_not_contact ? false : choices.do_not_contact
      if (
        !sameList(favorites, choices.favorite_products) ||
        doNotContact !== choices.do_not_contact
      ) {
        await setContactChoices(trx, businessId, targetId, {
          favorite_products: favorites,
          do_not_contact: doNotContact,
        })
      }
      if (doNotContact !== choices.do_not_contact) {
        // The consents the merge withdrew, granted again (a merge made before the ledger
        // recorded none: do_not_contact false grants (sms, service)).
        await grantAgain(
          trx,
          businessId,
          targetId,
          moved.consents_withdrawn ?? [{ channel: 'sms', purpose: 'service' }],
          `undo of merge ${mergeId}`,
        )
      }
    }

    const sources = await markUnmerged(trx, businessId, sourceIds)
    const unmerged = await updateCustomerRow(trx, businessId, targetId, cleared)
    if (!unmerged) throw new Error(`customer ${targetId} vanished under its lock`)
    for (const id of involved) await recomputePurchaseHistory(trx, businessId, id)
    await refreshDuplicates(trx, businessId, targetId)
    let attachedSales = 0
    for (const source of sources) {
      await refreshDuplicates(trx, businessId, source.id)
      // Reactivated with a phone: the payer's waiting sales are its own, as for any reactivation.
      if (source.phone !== null) {
        attachedSales += await attachPayerSales(trx, businessId, source.id, source.phone)
      }
    }
    const done = await markUndone(trx, businessId, mergeId)
    if (!done?.undone_at) throw new Error(`merge ${mergeId} was undone twice under its locks`)
    return { ...mergeOf(done), undone_at: done.undone_at.toISOString(), attachedSales }
  })
}
