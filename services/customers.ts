import { nameTransactionChange } from '../db/customer-changes.js'
import { countCustomers } from '../db/customer-counts.js'
import {
  customerVersion,
  deactivateCustomer as deactivateCustomerRow,
  findCustomerDetail,
  lockContactOf,
  listCustomers as listCustomerRows,
  searchCustomers as searchCustomerRows,
  updateCustomer as updateCustomerRow,
  type CustomerChanges,
  type ExpectedVersions,
} from '../db/customers.js'
import type { ConsentSource, CustomerType } from '../db/database.js'
import { inTransaction, type Executor } from '../db/executor.js'
import type { Customer } from '../generated/schemas/Customer.js'
import type { CustomerCreate } from '../generated/schemas/CustomerCreate.js'
import type { CustomerDetail } from '../generated/schemas/CustomerDetail.js'
import type { CustomerUpdate } from '../generated/schemas/CustomerUpdate.js'
import type { PossibleDuplicate } from '../generated/schemas/PossibleDuplicate.js'
import {
  Conflict,
  invalid,
  NotFound,
  PreconditionFailed,
  type DomainError,
} from '../lib/domain-errors.js'
import type { ListCursorCodec, ListScope } from '../lib/list-cursor.js'
import { phoneSearchDigits, toE164 } from '../lib/phone.js'
import { toCustomer, toNote, toPreferences, toPurchaseHistory } from './representations.js'
import { businessCountry, phoneOf } from './business-country.js'
import { createCustomers } from './bulk-customers.js'
import { flagsOf, writeFlags } from './consents.js'
import { lockContactKeys, refreshDuplicates, type ContactKeys } from './duplicates.js'
import { attachPayerSales } from './sales-attribution.js'

/** Notes embedded in a customer; the notes endpoint pages through all of them. */
export const EMBEDDED_NOTES_LIMIT = 100

/**
 * A customer as written, with the M-Pesa sales the write attached to it and the active
 * customers it probably duplicates.
 */
export interface WrittenCustomer {
  customer: Customer
  attachedSales: number
  possibleDuplicates: PossibleDuplicate[]
}

/**
 * A new customer with its preferences and empty history, in one transaction; with a phone, the
 * business's sales waiting for that payer are attached to it in the same transaction, and its
 * duplicate pairs are found in it too. Its initial contact flags are recorded in the consent
 * ledger. (An import's batch of one: services/bulk-customers.ts.)
 */
export async function createCustomer(
  db: Executor,
  businessId: number,
  input: CustomerCreate,
): Promise<WrittenCustomer> {
  const { phone, ...fields } = input
  const e164 = phone === undefined ? undefined : await phoneOf(db, businessId, phone)
  const [created] = await inTransaction(db, (trx) =>
    createCustomers(trx, businessId, [{ customer: { ...fields, phone: e164 } }], {
      source: 'api',
    }),
  )
  if (!created) throw new Error('the customer was not created')
  return { ...created, customer: toCustomer(created.customer) }
}

export interface ListQuery {
  limit?: number
  offset?: number
  sort_by?: 'created_at' | 'name' | 'id'
  sort_order?: 'asc' | 'desc'
  filter_type?: CustomerType
  is_active?: boolean
  after?: string
}

export interface CustomerPage {
  customers: Customer[]
  total: number
  limit: number
  offset: number
  next_after: string | null
}

/**
 * A page of the business's customers, by offset or after a keyset cursor, with the total.
 * `cursors` signs `next_after` and checks `after` (bound to this business and list) before SQL.
 */
export async function listCustomers(
  db: Executor,
  businessId: number,
  query: ListQuery,
  cursors: ListCursorCodec,
): Promise<CustomerPage> {
  const limit = query.limit ?? 20
  const offset = query.offset ?? 0
  const scope: ListScope = {
    sortBy: query.sort_by ?? 'created_at',
    sortOrder: query.sort_order ?? 'desc',
    isActive: query.is_active ?? true,
    customerType: query.filter_type ?? null,
  }
  if (query.after !== undefined && offset > 0) {
    throw invalid('offset', 'cannot be used with after')
  }
  const after =
    query.after === undefined ? undefined : cursors.decode(query.after, businessId, scope)
  const rows = await listCustomerRows(db, businessId, {
    ...scope,
    customerType: query.filter_type,
    limit: limit + 1,
    offset,
    after,
  })
  // A page past the end carries no row to hold the total; only then is it read on its own.
  const total =
    rows[0]?.total ?? (await countCustomers(db, businessId, scope.isActive, query.filter_type))
  const page = rows.slice(0, limit)
  const last = page.at(-1)
  const next_after =
    rows.length > limit && last
      ? cursors.encode(businessId, scope, { key: last.sort_key, id: last.id })
      : null
  return { customers: page.map(toCustomer), total, limit, offset, next_after }
}

/** Active customers whose name, e-mail or phone holds the query, best matches first. */
export async function searchCustomers(
  db: Executor,
  businessId: number,
  query: { q: string; limit?: number },
): Promise<Customer[]> {
  const country = await businessCountry(db, businessId)
  const rows = await searchCustomerRows(db, businessId, {
    text: query.q,
    phoneDigits: phoneSearchDigits(query.q, country),
    phoneExact: toE164(query.q, country),
    limit: query.limit ?? 10,
  })
  return rows.map(toCustomer)
}

/** The customer with its newest notes (`notesLimit`, 100 unless given), preferences and history. */
export async function getCustomer(
  db: Executor,
  businessId: number,
  customerId: number,
  notesLimit: number = EMBEDDED_NOTES_LIMIT,
): Promise<CustomerDetail> {
  const row = await findCustomerDetail(db, businessId, customerId, notesLimit)
  if (!row || !row.preferences || !row.history) throw new NotFound('customer')
  const { notes, preferences, history, ...customer } = row
  return {
    ...toCustomer(customer),
    notes: notes.map(toNote),
    preferences: toPreferences(preferences),
    history: toPurchaseHistory(history),
  }
}

/**
 * Why a change by key changed no row: no such customer, or (with expected versions) one whose
 * version is not among them.
 */
export async function unchangedBecause(
  db: Executor,
  businessId: number,
  customerId: number,
  expected: ExpectedVersions,
): Promise<DomainError> {
  if (!expected) return new NotFound('customer')
  const version = await customerVersion(db, businessId, customerId)
  return version === undefined ? new NotFound('customer') : new PreconditionFailed(version)
}

/**
 * Changes the fields given; `phone: null` clears it, a phone is stored in E.164. With
 * `expected` versions (If-Match), only a customer at one of them is changed. A write that gives
 * an active customer a phone, or reactivates one that has a phone, attaches the sales waiting
 * for that payer in the same transaction. `prefer_*` are not written here but recorded in the
 * consent ledger (with `source`: `api`, or `import` for an import's upsert), which then sets them.
 */
export async function updateCustomer(
  db: Executor,
  businessId: number,
  customerId: number,
  input: CustomerUpdate,
  expected: ExpectedVersions = undefined,
  source: ConsentSource = 'api',
): Promise<WrittenCustomer> {
  const { phone, prefer_sms, prefer_email, prefer_call, ...fields } = input
  const flags = flagsOf({ prefer_sms, prefer_email, prefer_call })
  const changes: CustomerChanges = { ...fields }
  if (phone === null) changes.phone = null
  else if (phone !== undefined) changes.phone = await phoneOf(db, businessId, phone)
  const mayAttach = typeof phone === 'string' || input.is_active === true
  const contactChanges = phone !== undefined || input.email !== undefined
  const mayPair = contactChanges || input.name !== undefined || input.is_active !== undefined
  return inTransaction(db, async (trx) => {
    // The write's one lock step: the keys of the contact before and after, before the row
    // changes (see lockContactKeys); the pairs found by the old phone or e-mail go.
    const locked = mayPair ? await lockContactOf(trx, businessId, customerId) : undefined
    // A merged customer comes back only by undoing its merge (its sales are the survivor's).
    if (input.is_active === true && locked && locked.merged_into !== null) {
      throw new Conflict(
        'Customer merged',
        `Customer ${customerId} is merged into ${locked.merged_into}: undo the merge to reactivate it`,
      )
    }
    const previous: ContactKeys | undefined = locked
    if (previous) {
      const next: ContactKeys = {
        phone: changes.phone === undefined ? previous.phone : changes.phone,
        email: changes.email === undefined ? previous.email : changes.email,
      }
      await lockContactKeys(trx, businessId, [previous, next])
    }
    const row = await updateCustomerRow(trx, businessId, customerId, changes, expected)
    if (!row) throw await unchangedBecause(trx, businessId, customerId, expected)
    const possibleDuplicates = mayPair ? await refreshDuplicates(trx, businessId, row.id) : []
    const attachedSales =
      mayAttach && row.phone !== null && row.is_active
        ? await attachPayerSales(trx, businessId, customerId, row.phone)
        : 0
    // Last: after the history row's lock that attaching takes (the sales feed's order).
    const views = await writeFlags(trx, businessId, customerId, flags, { source })
    const written = views
      ? {
          ...row,
          prefer_sms: views.prefer_sms,
          prefer_email: views.prefer_email,
          prefer_call: views.prefer_call,
        }
      : row
    return { customer: toCustomer(written), attachedSales, possibleDuplicates }
  })
}

/**
 * Soft delete: the customer becomes inactive and leaves its duplicate pairs; repeating it
 * changes only the version.
 */
export async function deleteCustomer(
  db: Executor,
  businessId: number,
  customerId: number,
  expected: ExpectedVersions = undefined,
): Promise<Customer> {
  return inTransaction(db, async (trx) => {
    // A repeated delete moves no value, but is a delete in the change history all the same.
    await nameTransactionChange(trx, 'deleted')
    // The payer's lock before the row's trigger locks the history row (see lockContactKeys).
    await lockContactKeys(trx, businessId, [await lockContactOf(trx, businessId, customerId)])
    const row = await deactivateCustomerRow(trx, businessId, customerId, expected)
    if (!row) throw await unchangedBecause(trx, businessId, customerId, expected)
    await refreshDuplicates(trx, businessId, row.id)
    return toCustomer(row)
  })
}
