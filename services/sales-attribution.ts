import type { Transaction } from 'kysely'
import { attachUnattributedSales, lockPayer, findSaleOwner } from '../db/customer-sales.js'
import { lockPurchaseHistory, recomputePurchaseHistory } from '../db/customer-purchase-history.js'
import { findCustomerByPhoneSha256 } from '../db/customers.js'
import type { Database, PayerMatch } from '../db/database.js'
import type { Executor } from '../db/executor.js'
import type { SalePayer } from '../db/sale-event-intake.js'
import type { SalePayer as SalePayerInput } from '../generated/schemas/SalePayer.js'
import { invalid } from '../lib/domain-errors.js'
import { phoneSha256, toE164 } from '../lib/phone.js'
import { businessCountry } from './business-country.js'

/** Where a sale goes: its customer, and how the payer decided it (null when an event named it). */
export interface SaleCustomer {
  customerId: number
  matchedBy: PayerMatch | null
}

/**
 * The payer as the ledger keeps it: a number in any format is read with the business's country
 * and kept in E.164 with its hash; a hash is kept in lower case. `Invalid` for a number that is
 * not one.
 */
export async function payerOf(
  db: Executor,
  businessId: number,
  payer: SalePayerInput,
): Promise<SalePayer> {
  if ('phone_sha256' in payer) return { phone: null, sha256: payer.phone_sha256.toLowerCase() }
  const e164 = toE164(payer.phone, await businessCountry(db, businessId))
  if (!e164) throw invalid('data.payer.phone', 'must be a valid phone number')
  return { phone: e164, sha256: phoneSha256(e164) }
}

/**
 * Which customer a sale event's effect belongs to — the one place that decides it:
 * 1. a sale reported before keeps the customer it has;
 * 2. a customer the event names;
 * 3. the business's oldest active customer with the payer's phone (under the payer's lock,
 *    so a customer registering that phone at the same moment cannot miss the sale);
 * 4. nobody: the sale waits in the ledger (with its payer) or is a walk-in's.
 * The sale's customer in 1 is read without a lock: the caller re-checks it under the sale's lock.
 */
export async function saleCustomerOf(
  trx: Transaction<Database>,
  sale: {
    businessId: number
    saleId: string
    named: number | null
    payer: SalePayer | null
  },
): Promise<SaleCustomer | null> {
  const { businessId, saleId, named, payer } = sale
  if (named !== null) return { customerId: named, matchedBy: null }
  const existing = await findSaleOwner(trx, businessId, saleId)
  if (existing?.customer_id != null) {
    return { customerId: existing.customer_id, matchedBy: existing.matched_by }
  }
  if (payer === null) return null
  await lockPayer(trx, businessId, payer.sha256)
  const customerId = await findCustomerByPhoneSha256(trx, businessId, payer.sha256)
  if (customerId === undefined) return null
  return { customerId, matchedBy: payer.phone === null ? 'phone_sha256' : 'phone' }
}

/**
 * A customer who has (just got) this phone takes every sale of the business that waits for it,
 * and the purchase history is recomputed: the walk-in who registers keeps their M-Pesa
 * purchases. Lock order as in the sales feed: the payer, then the customer's history, then the
 * sales. Returns how many sales were attached.
 */
export async function attachPayerSales(
  trx: Transaction<Database>,
  businessId: number,
  customerId: number,
  e164: string,
): Promise<number> {
  const sha256 = phoneSha256(e164)
  await lockPayer(trx, businessId, sha256)
  await lockPurchaseHistory(trx, businessId, customerId)
  const attached = await attachUnattributedSales(trx, businessId, customerId, sha256)
  if (attached > 0) await recomputePurchaseHistory(trx, businessId, customerId)
  return attached
}
