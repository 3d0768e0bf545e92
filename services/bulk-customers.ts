import type { Transaction } from 'kysely'
import { insertNotesOf } from '../db/customer-notes.js'
import { insertDefaultPreferencesOf } from '../db/customer-preferences.js'
import { insertEmptyPurchaseHistories } from '../db/customer-purchase-history.js'
import { payersWithWaitingSales } from '../db/customer-sales.js'
import { insertCustomers, type CustomerRow } from '../db/customers.js'
import type { ConsentSource, Database } from '../db/database.js'
import type { CustomerCreate } from '../generated/schemas/CustomerCreate.js'
import type { PossibleDuplicate } from '../generated/schemas/PossibleDuplicate.js'
import { phoneSha256 } from '../lib/phone.js'
import type { ConsentViews } from '../db/customer-consents.js'
import { recordInitialFlagsOf } from './consents.js'
import { lockContactKeys, refreshDuplicatesOf } from './duplicates.js'
import { attachPayerSales } from './sales-attribution.js'

/** A created customer, with its duplicate candidates and the waiting sales it took. */
export interface CreatedCustomer {
  customer: CustomerRow
  possibleDuplicates: PossibleDuplicate[]
  attachedSales: number
}

/** A customer to create in bulk: the fields as endpoint 1 takes them (phone in E.164). */
export interface NewCustomerInBulk {
  customer: CustomerCreate
  /** A `personal` note to add, by `noteAuthor`. */
  note?: string
}

/**
 * Endpoint 1's creation for many customers in the caller's transaction, set-based: one insert
 * each of the customers, their preferences, their empty histories, their initial consent
 * records (with `source`) and their notes, one statement storing their flags and one lock step
 * for all their contact keys; one statement finding all their duplicate pairs; then the sales
 * waiting for their phones (looked up for the whole batch at once, so only a phone that has some
 * costs a statement). Same effects as `createCustomer` for each, in the order given.
 */
export async function createCustomers(
  trx: Transaction<Database>,
  businessId: number,
  customers: NewCustomerInBulk[],
  options: {
    source: ConsentSource
    noteAuthor?: number
    /** Called once the customers' rows are written (an import then starts its next batch). */
    written?: () => void
  },
): Promise<CreatedCustomer[]> {
  if (customers.length === 0) return []
  const rows = await insertCustomers(
    trx,
    businessId,
    customers.map(({ customer }) => {
      const { phone, ...fields } = customer
      return { ...fields, phone: phone ?? null }
    }),
  )
  options.written?.()
  const ids = rows.map((row) => row.id)
  const preferences = await insertDefaultPreferencesOf(trx, businessId, ids)
  await insertEmptyPurchaseHistories(trx, businessId, ids)
  // New rows nobody else sees yet: no lock order to keep.
  const views = await recordInitialFlagsOf(
    trx,
    businessId,
    rows.map((row, index) => {
      const initial = preferences[index]
      if (!initial) throw new Error(`customer ${row.id} has no preferences row`)
      return { ...row, ...initial }
    }),
    options.source,
  )
  await insertNotesOf(
    trx,
    businessId,
    customers.flatMap(({ note }, index) => {
      const id = ids[index]
      const author = options.noteAuthor
      return note === undefined || id === undefined || author === undefined
        ? []
        : [{ customer_id: id, note_type: 'personal' as const, content: note, created_by: author }]
    }),
  )
  // The batch's one lock step (the payers' locks among them), before the pairs and the sales.
  await lockContactKeys(trx, businessId, rows)
  const pairs = await refreshDuplicatesOf(trx, businessId, ids)
  const created: CreatedCustomer[] = rows.map((row) => {
    const flags = views.get(row.id)
    return {
      customer: flags ? { ...row, ...pick(flags) } : row,
      possibleDuplicates: pairs.get(row.id) ?? [],
      attachedSales: 0,
    }
  })
  await attachWaitingSales(trx, businessId, created)
  return created
}

const pick = ({ prefer_sms, prefer_email, prefer_call }: ConsentViews) => ({
  prefer_sms,
  prefer_email,
  prefer_call,
})

/**
 * Each phone's waiting sales go to its first (oldest) new customer, as the payer rule says;
 * counted in its `attachedSales`.
 */
async function attachWaitingSales(
  trx: Transaction<Database>,
  businessId: number,
  created: CreatedCustomer[],
): Promise<void> {
  const firstWithPhone = new Map<string, CreatedCustomer>()
  for (const written of created) {
    const { phone, is_active } = written.customer
    if (phone !== null && is_active && !firstWithPhone.has(phone)) {
      firstWithPhone.set(phone, written)
    }
  }
  const waiting = await payersWithWaitingSales(
    trx,
    businessId,
    [...firstWithPhone.keys()].map(phoneSha256),
  )
  for (const [phone, written] of firstWithPhone) {
    if (!waiting.has(phoneSha256(phone))) continue
    written.attachedSales = await attachPayerSales(trx, businessId, written.customer.id, phone)
  }
}
