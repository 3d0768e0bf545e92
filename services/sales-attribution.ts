import type { Transaction } from 'kysely'
import { attachUnattributedSales } from '../db/customer-sales.js'
import { lockPurchaseHistory, recomputePurchaseHistory } from '../db/customer-purchase-history.js'
import type { Database } from '../db/database.js'
import type { Executor } from '../db/executor.js'
import type { SalePayer } from '../db/sale-event-intake.js'
import type { SalePayer as SalePayerInput } from '../generated/schemas/SalePayer.js'
import { invalid } from '../lib/domain-errors.js'
import { phoneSha256, toE164 } from '../lib/phone.js'
import { businessCountry } from './business-country.js'

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
 * A customer who has (just got) this phone takes every sale of the business that waits for it,
 * and the purchase history is recomputed: the walk-in who registers keeps their M-Pesa
 * purchases. The caller holds the payer's lock (its write's `lockContactKeys`, which covers the
 * phone); then, as in the sales feed, the customer's history, then the sales. Returns how many
 * sales were attached.
 */
export async function attachPayerSales(
  trx: Transaction<Database>,
  businessId: number,
  customerId: number,
  e164: string,
): Promise<number> {
  const sha256 = phoneSha256(e164)
  await lockPurchaseHistory(trx, businessId, customerId)
  const attached = await attachUnattributedSales(trx, businessId, customerId, sha256)
  if (attached > 0) await recomputePurchaseHistory(trx, businessId, customerId)
  return attached
}
