import type { Selectable } from 'kysely'
import type { CustomerPurchaseHistoryTable } from './database.js'
import type { Executor } from './executor.js'

export type PurchaseHistoryRow = Selectable<CustomerPurchaseHistoryTable>

export async function insertEmptyPurchaseHistory(
  db: Executor,
  businessId: number,
  customerId: number,
): Promise<void> {
  await db
    .insertInto('customer_purchase_history')
    .values({ business_id: businessId, customer_id: customerId })
    .execute()
}

export async function findPurchaseHistory(
  db: Executor,
  businessId: number,
  customerId: number,
): Promise<PurchaseHistoryRow | undefined> {
  return db
    .selectFrom('customer_purchase_history')
    .selectAll()
    .where('business_id', '=', businessId)
    .where('customer_id', '=', customerId)
    .executeTakeFirst()
}
