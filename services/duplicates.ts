import type { Transaction } from 'kysely'
import {
  listDuplicatePairs,
  lockContactKeys as lockContactKeyRows,
  refreshCustomerDuplicates,
  refreshDuplicatesOfMany,
} from '../db/customer-duplicates.js'
import { customerExists } from '../db/customers.js'
import type { Database } from '../db/database.js'
import type { Executor } from '../db/executor.js'
import type { DuplicateCandidates } from '../generated/schemas/DuplicateCandidates.js'
import type { PossibleDuplicate } from '../generated/schemas/PossibleDuplicate.js'
import { NotFound } from '../lib/domain-errors.js'
import type { DuplicatesCursorCodec, DuplicatesScope } from '../lib/duplicates-cursor.js'
import { phoneSha256 } from '../lib/phone.js'

/** What a customer's pairs are found by: its E.164 phone and its e-mail. */
export interface ContactKeys {
  phone: string | null
  email: string | null
}

/** The last 7 digits of an E.164 phone: the key similar names are compared within. */
const phoneTail = (e164: string) => e164.slice(-7)

/**
 * A customer write's one lock step: the advisory locks of every contact key these customers'
 * states have (before and after the write) — phone (the payer's lock of the sales feed),
 * e-mail, last 7 phone digits — in one ordered statement. Taken before the row changes: the
 * row's trigger locks the customer's history row, and the sales feed takes a payer's lock
 * before a history row, so the payer's lock must come first everywhere. `refreshDuplicates` and
 * `attachPayerSales` rely on them and take none of their own.
 */
export async function lockContactKeys(
  trx: Transaction<Database>,
  businessId: number,
  states: (ContactKeys | undefined)[],
): Promise<void> {
  const phones = new Set<string>()
  const emails = new Set<string>()
  for (const keys of states) {
    if (keys?.phone) phones.add(keys.phone)
    if (keys?.email) emails.add(keys.email)
  }
  await lockContactKeyRows(trx, businessId, {
    phoneSha256s: [...phones].map(phoneSha256),
    emails: [...emails],
    tails: [...new Set([...phones].map(phoneTail))],
  })
}

/**
 * The one owner of the duplicate pairs: every write that can change a customer's name, phone,
 * e-mail or active state calls it in its transaction, after the customer's row is written: one
 * statement that replaces the customer's pairs with those found by indexed lookups (none when
 * it is inactive). The write holds the locks of every contact key the customer has now and had
 * before (`lockContactKeys`, its one lock step, taken before the row changes): two writers of
 * the same phone, e-mail or last 7 digits are serialised by them, so the later one always sees
 * the earlier one and no pair is missed or left behind. Returns the customer's candidates, best
 * first.
 */
export async function refreshDuplicates(
  trx: Transaction<Database>,
  businessId: number,
  customerId: number,
): Promise<PossibleDuplicate[]> {
  const rows = await refreshCustomerDuplicates(trx, businessId, customerId)
  return rows.map((row) => ({ id: row.id, score: Number(row.score), reasons: row.reasons }))
}

/**
 * `refreshDuplicates` for several customers (an import's batch) in one statement, with the same
 * locks held by the caller; each customer's candidates, best first. One customer (endpoint 1's
 * create) goes through the single-customer statement, whose plan is the faster for one key.
 */
export async function refreshDuplicatesOf(
  trx: Transaction<Database>,
  businessId: number,
  customerIds: number[],
): Promise<Map<number, PossibleDuplicate[]>> {
  const [only] = customerIds
  if (customerIds.length === 1 && only !== undefined) {
    return new Map([[only, await refreshDuplicates(trx, businessId, only)]])
  }
  const found = new Map<number, PossibleDuplicate[]>(customerIds.map((id) => [id, []]))
  if (customerIds.length === 0) return found
  for (const row of await refreshDuplicatesOfMany(trx, businessId, customerIds)) {
    found.get(row.me_id)?.push({ id: row.id, score: Number(row.score), reasons: row.reasons })
  }
  return found
}

export interface DuplicatesQuery {
  limit?: number
  min_score?: number
  after?: string
}

async function page(
  db: Executor,
  businessId: number,
  customerId: number | null,
  query: DuplicatesQuery,
  cursors: DuplicatesCursorCodec,
): Promise<DuplicateCandidates> {
  const limit = query.limit ?? 20
  const scope: DuplicatesScope = { customerId, minScore: query.min_score ?? 0.5 }
  // Checked before any SQL: a cursor of another business, list or min_score is a 400.
  const after =
    query.after === undefined ? undefined : cursors.decode(query.after, businessId, scope)
  const rows = await listDuplicatePairs(db, businessId, {
    customerId: customerId ?? undefined,
    minScore: scope.minScore,
    limit: limit + 1,
    after,
  })
  const candidates = rows.slice(0, limit)
  const last = candidates.at(-1)
  const next =
    rows.length > limit && last
      ? cursors.encode(businessId, scope, {
          score: last.score,
          lowId: last.low_id,
          highId: last.high_id,
        })
      : null
  return {
    candidates: candidates.map((row) => ({
      customer_ids: [row.low_id, row.high_id],
      score: Number(row.score),
      reasons: row.reasons,
    })),
    next,
  }
}

/** The business's duplicate candidates, best first, a keyset page at a time. */
export async function listDuplicates(
  db: Executor,
  businessId: number,
  query: DuplicatesQuery,
  cursors: DuplicatesCursorCodec,
): Promise<DuplicateCandidates> {
  return page(db, businessId, null, query, cursors)
}

/** The candidates that include one customer; `NotFound` for an unknown customer. */
export async function listCustomerDuplicates(
  db: Executor,
  businessId: number,
  customerId: number,
  query: DuplicatesQuery,
  cursors: DuplicatesCursorCodec,
): Promise<DuplicateCandidates> {
  const result = await page(db, businessId, customerId, query, cursors)
  // Only an empty page needs to tell "no pairs" from "no customer".
  if (result.candidates.length === 0 && !(await customerExists(db, businessId, customerId))) {
    throw new NotFound('customer')
  }
  return result
}
