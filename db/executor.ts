import type { Kysely, Transaction } from 'kysely'
import type { Database } from './database.js'

/** What every query function takes first: the database, or the transaction it runs in. */
export type Executor = Kysely<Database> | Transaction<Database>
