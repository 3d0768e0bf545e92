import { eraseChangeValues, nameTransactionChange } from '../db/customer-changes.js'
import { eraseEvidence } from '../db/customer-consents.js'
import { eraseFilledValues } from '../db/customer-merges.js'
import { ERASED_TEXT } from '../db/erased.js'
import { eraseNoteContents } from '../db/customer-notes.js'
import { eraseContactTime } from '../db/customer-preferences.js'
import { erasePayers } from '../db/customer-sales.js'
import { eraseCustomerRow, lockContactOf } from '../db/customers.js'
import { inTransaction, type Executor } from '../db/executor.js'
import { findStoredAnswersAbout, rewriteStoredAnswer } from '../db/idempotency-keys.js'
import { personalTextsOf } from '../db/personal-data.js'
import type { Customer } from '../generated/schemas/Customer.js'
import { Conflict, NotFound } from '../lib/domain-errors.js'
import { redactStrings } from '../lib/redact.js'
import { withdrawEverything } from './consents.js'
import { lockContactKeys, refreshDuplicates } from './duplicates.js'
import { toCustomer } from './representations.js'

/**
 * Erases the customer's personal data, irreversibly, in one transaction (Kenya Data Protection
 * Act 2019): every consent granted is withdrawn and every evidence erased; the name becomes
 * `Erased customer`, phone, e-mail, address and best contact time go, the customer is inactive
 * for good (`erased_at`; the database refuses any later change of the row); note contents,
 * payers' phones, stored idempotent answers and merge records lose what they held; the change
 * history keeps which fields changed but no value, and the erasure's reason. Sales amounts and
 * purchase histories stay: they are the shop's books. A second erasure is a 409.
 */
export async function eraseCustomer(
  db: Executor,
  businessId: number,
  customerId: number,
  reason: string,
): Promise<Customer> {
  return inTransaction(db, async (trx) => {
    await nameTransactionChange(trx, 'erased')
    const locked = await lockContactOf(trx, businessId, customerId)
    if (!locked) throw new NotFound('customer')
    if (locked.erased_at !== null) {
      throw new Conflict('Customer erased', `Customer ${customerId} was erased already`)
    }
    // The write's one lock step (the payer's among them), as for any deactivation.
    await lockContactKeys(trx, businessId, [locked])
    const texts = new Set(await personalTextsOf(trx, businessId, customerId))
    await withdrawEverything(trx, businessId, customerId, 'The customer was erased')
    const row = await eraseCustomerRow(trx, businessId, customerId)
    if (!row) throw new Error(`customer ${customerId} vanished under its lock`)
    await eraseContactTime(trx, businessId, customerId)
    await eraseNoteContents(trx, businessId, customerId)
    await eraseEvidence(trx, businessId, customerId)
    await erasePayers(trx, businessId, customerId)
    // Answers kept for retries keep their shape (a replay still answers as its schema says).
    for (const stored of await findStoredAnswersAbout(trx, businessId, customerId)) {
      await rewriteStoredAnswer(
        trx,
        { businessId, userSub: stored.user_sub, key: stored.key },
        redactStrings(stored.response_body, texts, ERASED_TEXT),
      )
    }
    await eraseFilledValues(trx, businessId, customerId)
    await refreshDuplicates(trx, businessId, customerId)
    // Last: this transaction's own change is complete by now.
    await eraseChangeValues(trx, businessId, customerId, reason)
    return toCustomer(row)
  })
}
