import type { Transaction } from 'kysely'
import { attachUnattributedSales, startUnnamedSaleEvent } from '../db/customer-sales.js'
import { lockPurchaseHistory, recomputePurchaseHistory } from '../db/customer-purchase-history.js'
import type { Database } from '../db/database.js'
import type { Executor } from '../db/executor.js'
import type { IntakeOwner, SalePayer } from '../db/sale-event-intake.js'
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
 * Whose a sale event is — the one place that decides it:
 * 1. a customer the event names, or the survivor it was merged into (resolved and locked by the
 *    intake's statement, which tells when a merge or undo committed meanwhile);
 * 2. a sale reported before keeps the customer it has;
 * 3. the business's oldest active customer with the payer's phone: the payer's lock is taken
 *    here, and the intake's statement (which starts after it) looks the customer up, so a
 *    customer registering that phone at the same moment cannot miss the sale;
 * 4. nobody: the sale waits in the ledger (with its payer) or is a walk-in's.
 * The sale's customer in 2 is read without a lock: the caller re-checks it under the sale's lock.
 */
export async function saleOwnerOf(
  trx: Transaction<Database>,
  sale: {
    businessId: number
    saleId: string
    named: number | null
    payer: SalePayer | null
  },
): Promise<IntakeOwner> {
  const { businessId, saleId, named, payer } = sale
  // The intake resolves the survivor in its own statement; an unknown customer is refused.
  if (named !== null) return { kind: 'named', customerId: named }
  const reported = await startUnnamedSaleEvent(trx, businessId, saleId, payer?.sha256 ?? null)
  if (reported?.customer_id != null) {
    return { kind: 'customer', customerId: reported.customer_id, matchedBy: reported.matched_by }
  }
  if (payer === null) return { kind: 'none' }
  return {
    kind: 'payer',
    sha256: payer.sha256,
    matchedBy: payer.phone === null ? 'phone_sha256' : 'phone',
  }
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
