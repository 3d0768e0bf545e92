import type { ControlledTransaction, Kysely } from 'kysely'
import type { Database } from '../db/database.js'
import {
  claimKey,
  deleteExpiredKey,
  deleteExpiredKeys,
  findKey,
  storeAnswer,
  storeRefusal,
  type KeyScope,
  type RequestFingerprint,
  type StoredAnswer,
  type StoredKey,
} from '../db/idempotency-keys.js'

export type { KeyScope, RequestFingerprint, StoredAnswer }

/** The transaction a keyed request runs in: its effect and its stored answer commit together. */
export type RequestTransaction = ControlledTransaction<Database>

export type Claim =
  /** Run the request in `transaction`, then finish (store and commit) or abandon it. */
  | { outcome: 'run'; transaction: RequestTransaction }
  /** The key's first request answered this; send it again. */
  | { outcome: 'replay'; answer: StoredAnswer }
  /** The key's first request is still running. */
  | { outcome: 'in_progress' }
  /** The key was used for another request (method, path or body). */
  | { outcome: 'reused' }

const sameRequest = (stored: StoredKey, fingerprint: RequestFingerprint): boolean =>
  stored.method === fingerprint.method &&
  stored.path === fingerprint.path &&
  stored.bodySha256 === fingerprint.bodySha256

async function rollbackQuietly(transaction: RequestTransaction): Promise<void> {
  // A rollback that fails (the connection died) leaves nothing behind to undo.
  await transaction
    .rollback()
    .execute()
    .catch(() => undefined)
}

async function claimOrRead(
  transaction: RequestTransaction,
  scope: KeyScope,
  fingerprint: RequestFingerprint,
): Promise<Claim> {
  const { free, claimed } = await claimKey(transaction, scope, fingerprint)
  if (claimed) return { outcome: 'run', transaction }
  // A statement of its own: it sees an answer committed while the claim ran.
  const stored = await findKey(transaction, scope)
  if (!stored?.answer) return { outcome: 'in_progress' }
  if (stored.expired) {
    if (!free) return { outcome: 'in_progress' }
    // Past its lifetime and not purged yet: the key is new again.
    await deleteExpiredKey(transaction, scope)
    const again = await claimKey(transaction, scope, fingerprint)
    return again.claimed ? { outcome: 'run', transaction } : { outcome: 'in_progress' }
  }
  if (!sameRequest(stored, fingerprint)) return { outcome: 'reused' }
  return { outcome: 'replay', answer: stored.answer }
}

/**
 * Starts a request sent with an Idempotency-Key: opens its transaction and claims the key in
 * it without waiting (the database decides, across every instance). Unless the outcome is
 * `run`, the transaction is already closed.
 */
export async function beginIdempotentRequest(
  db: Kysely<Database>,
  scope: KeyScope,
  fingerprint: RequestFingerprint,
): Promise<Claim> {
  const transaction = await db.startTransaction().execute()
  try {
    const claim = await claimOrRead(transaction, scope, fingerprint)
    if (claim.outcome !== 'run') await transaction.rollback().execute()
    return claim
  } catch (error) {
    await rollbackQuietly(transaction)
    throw error
  }
}

/** Stores the answer of a request that ran and commits it with the request's effect. */
export async function finishIdempotentRequest(
  transaction: RequestTransaction,
  scope: KeyScope,
  answer: StoredAnswer,
): Promise<void> {
  try {
    await storeAnswer(transaction, scope, answer)
    await transaction.commit().execute()
  } catch (error) {
    await rollbackQuietly(transaction)
    throw error
  }
}

/**
 * Ends a request that was refused or failed: its transaction (and whatever it had done) is
 * rolled back, and the key is free again.
 */
export async function abandonIdempotentRequest(transaction: RequestTransaction): Promise<void> {
  await rollbackQuietly(transaction)
}

/**
 * Keeps a refusal that changed nothing (a 404, 412 or 422) as the key's answer, after its
 * transaction was rolled back, so a retry gets the same refusal.
 */
export async function recordRefusal(
  db: Kysely<Database>,
  scope: KeyScope,
  fingerprint: RequestFingerprint,
  answer: StoredAnswer,
): Promise<void> {
  await storeRefusal(db, scope, fingerprint, answer)
}

export interface PurgeLimits {
  /** Keys deleted per statement: each statement is short and locks only those rows. */
  batchSize: number
  /** Statements per purge at most; what is left waits for the next purge. */
  maxBatches: number
}

/** Deletes expired keys (24 hours old) in small batches; returns how many it deleted. */
export async function purgeExpiredKeys(
  db: Kysely<Database>,
  limits: PurgeLimits = { batchSize: 500, maxBatches: 20 },
): Promise<number> {
  let total = 0
  for (let batch = 0; batch < limits.maxBatches; batch += 1) {
    const deleted = await deleteExpiredKeys(db, limits.batchSize)
    total += deleted
    if (deleted < limits.batchSize) break
  }
  return total
}
