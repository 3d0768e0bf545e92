import type { CustomerType } from './database.js'
import type { Executor } from './executor.js'

/** How many customers match a list's filters, from the counters the triggers keep. */
export async function countCustomers(
  db: Executor,
  businessId: number,
  isActive: boolean,
  customerType?: CustomerType,
): Promise<number> {
  let query = db
    .selectFrom('customer_counts')
    .select((eb) => eb.fn.coalesce(eb.fn.sum<string | number>('count'), eb.lit(0)).as('total'))
    .where('business_id', '=', businessId)
    .where('is_active', '=', isActive)
  if (customerType) query = query.where('customer_type', '=', customerType)
  const row = await query.executeTakeFirstOrThrow()
  return Number(row.total)
}
