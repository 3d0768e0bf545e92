import { sql } from 'kysely'
import type { CustomerType } from './database.js'
import type { Executor } from './executor.js'

/** The counter read for a list's filters; also embedded as a subquery in the list itself. */
export function customerTotalQuery(
  db: Executor,
  businessId: number,
  isActive: boolean,
  customerType?: CustomerType,
) {
  let query = db
    .selectFrom('customer_counts')
    // sum(int8) is numeric; as int8 it reads as a number like every count.
    .select(sql<number>`coalesce(sum(count), 0)::int8`.as('total'))
    .where('business_id', '=', businessId)
    .where('is_active', '=', isActive)
  if (customerType) query = query.where('customer_type', '=', customerType)
  return query
}

/** How many customers match a list's filters, from the counters the triggers keep. */
export async function countCustomers(
  db: Executor,
  businessId: number,
  isActive: boolean,
  customerType?: CustomerType,
): Promise<number> {
  const row = await customerTotalQuery(
    db,
    businessId,
    isActive,
    customerType,
  ).executeTakeFirstOrThrow()
  return row.total
}
