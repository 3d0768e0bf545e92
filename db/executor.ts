import type { Kysely, Transaction } from 'kysely'
import type { Database } from './database.js'

/** What every query function takes first: the database, or the transaction it runs in. */
export type Executor = Kysely<Database> | Transaction<Database>

/**
 * Runs `work` in a transaction: the caller's when it is already in one (a job or a larger
 * operation joining it), else a new one. Kysely refuses to nest `transaction()`.
 */
export async function inTransaction<T>(
  db: Executor,
  work: (trx: Transaction<Database>) => Promise<T>,
): Promise<T> {
  if (db.isTransaction) return work(db as Transaction<Database>)
  return db.transaction().execute(work)
}
