import {
  findStalePurchaseHistory,
  insertPurchaseHistoryFromLedger,
  recomputePurchaseHistory,
  type StaleHistory,
} from '../db/customer-purchase-history.js'
import { inTransaction, type Executor } from '../db/executor.js'

/**
 * Rewrites every purchase-history row of the business that differs from the sales ledger (and
 * the preferences' average spend); returns how many rows changed.
 */
export async function recomputeBusinessHistory(db: Executor, businessId: number): Promise<number> {
  return inTransaction(db, (trx) => recomputePurchaseHistory(trx, businessId))
}

/** History rows that differ from a recomputation from the ledger (none when all is well). */
export async function staleHistories(db: Executor, businessId: number): Promise<StaleHistory[]> {
  return findStalePurchaseHistory(db, businessId)
}

/** History rows computed from the ledger for customers from `fromId` on that have none (bulk loads). */
export async function historiesFromLedger(
  db: Executor,
  businessId: number,
  fromId: number,
): Promise<void> {
  await insertPurchaseHistoryFromLedger(db, businessId, fromId)
}
