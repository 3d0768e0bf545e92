import { sql, type Selectable, type Updateable } from 'kysely'
import type { CustomerPreferencesTable } from './database.js'
import type { Executor } from './executor.js'

export type PreferencesRow = Selectable<CustomerPreferencesTable>
export type PreferencesChanges = Omit<
  Updateable<CustomerPreferencesTable>,
  'id' | 'business_id' | 'customer_id' | 'created_at' | 'average_spend'
>

export async function insertDefaultPreferences(
  db: Executor,
  businessId: number,
  customerId: number,
): Promise<void> {
  await db
    .insertInto('customer_preferences')
    .values({ business_id: businessId, customer_id: customerId })
    .execute()
}

export async function updatePreferences(
  db: Executor,
  businessId: number,
  customerId: number,
  changes: PreferencesChanges,
): Promise<PreferencesRow | undefined> {
  return db
    .updateTable('customer_preferences')
    .set({ ...changes, updated_at: sql`now()` })
    .where('business_id', '=', businessId)
    .where('customer_id', '=', customerId)
    .returningAll()
    .executeTakeFirst()
}
