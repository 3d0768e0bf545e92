import { sql, type Kysely } from 'kysely'
import { crossBusiness } from '../../db/cross-business.js'
import type { Database } from '../../db/database.js'

export interface OccupiedBusiness {
  businessId: number
  customers: number
  sales: number
}

/**
 * The businesses among `businessIds` that already hold customers or sales. The seed fills only
 * empty businesses: its generated phone numbers and sale ids would collide with an earlier
 * seed's halfway through the load. Works before the migrations too (no tables: nothing held).
 */
export async function occupiedBusinesses(
  db: Kysely<Database>,
  businessIds: number[],
): Promise<OccupiedBusiness[]> {
  const { rows: tables } = await sql<{ customers: boolean; sales: boolean }>`
    select to_regclass('customers') is not null as customers,
      to_regclass('customer_sales') is not null as sales`.execute(db)
  const exists = tables[0]
  if (!exists?.customers) return []
  const ids = sql`unnest(${sql.lit(`{${businessIds.join(',')}}`)}::bigint[]) as b(id)`
  const sales = exists.sales
    ? sql`(select count(*) from customer_sales s where s.business_id = b.id)`
    : sql`0`
  const { rows } = await sql<{ id: string; customers: string; sales: string }>`
    select ${crossBusiness('the seed checks that every business it is to fill is empty')}
      b.id::text as id,
      (select count(*) from customers c where c.business_id = b.id)::text as customers,
      ${sales}::text as sales
    from ${ids}
    order by b.id`.execute(db)
  return rows
    .map((row) => ({
      businessId: Number(row.id),
      customers: Number(row.customers),
      sales: Number(row.sales),
    }))
    .filter((business) => business.customers > 0 || business.sales > 0)
}

/** "business 5 already has 2,000 customers and 6,000 sales" (and the others, if several). */
export function describeOccupied(occupied: OccupiedBusiness[]): string {
  const count = (n: number) => n.toLocaleString('en')
  return occupied
    .map(
      (business) =>
        `business ${business.businessId} already has ${count(business.customers)} customers and ${count(business.sales)} sales`,
    )
    .join('; ')
}
