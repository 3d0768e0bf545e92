import { sql, type Kysely } from 'kysely'

/**
 * A merge epoch on each purchase history row, raised by every merge and undo that involves the
 * customer, under the row's lock. A sale event naming a customer locks its survivor's history
 * row only at the epoch its snapshot saw: a merge or undo that commits while the event waits
 * changes the epoch, PostgreSQL's re-check of the locked row fails, and the event is tried again
 * with the new owner (instead of asking for the survivor before and after the lock).
 */
export async function up(db: Kysely<any>): Promise<void> {
  // A constant default: no table rewrite, whatever the number of rows.
  await sql`alter table customer_purchase_history
    add column merge_epoch integer not null default 0`.execute(db)
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table customer_purchase_history drop column merge_epoch`.execute(db)
}
