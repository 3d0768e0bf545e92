import { sql, type Selectable, type Updateable } from 'kysely'
import { versionIsOneOf, type ExpectedVersions } from './customers.js'
import type { CustomerPreferencesTable } from './database.js'
import type { Executor } from './executor.js'

export type PreferencesRow = Selectable<CustomerPreferencesTable>
export type PreferencesChanges = Omit<
  Updateable<CustomerPreferencesTable>,
  'id' | 'business_id' | 'customer_id' | 'created_at' | 'average_spend'
>

type InitialFlags = Pick<
  PreferencesRow,
  'customer_id' | 'can_receive_offers' | 'can_receive_loyalty'
>

/** Rows with the column defaults for new customers, in one statement, in the order given. */
export async function insertDefaultPreferencesOf(
  db: Executor,
  businessId: number,
  customerIds: number[],
): Promise<InitialFlags[]> {
  if (customerIds.length === 0) return []
  const rows = await db
    .insertInto('customer_preferences')
    .values(customerIds.map((customerId) => ({ business_id: businessId, customer_id: customerId })))
    .returning(['customer_id', 'can_receive_offers', 'can_receive_loyalty'])
    .execute()
  const byCustomer = new Map(rows.map((row) => [row.customer_id, row]))
  return customerIds.map((id) => byCustomer.get(id)).filter((row) => row !== undefined)
}

/**
 * Changes the preferences and adds one to the customer's version, in one statement; no row
 * when the customer is absent or its version differs from the expected ones.
 */
export async function updatePreferences(
  db: Executor,
  businessId: number,
  customerId: number,
  changes: PreferencesChanges,
  expected: ExpectedVersions = undefined,
): Promise<(PreferencesRow & { version: number }) | undefined> {
  return db
    .with('customer', (db) => {
      let update = db
        .updateTable('customers')
        .set({ version: sql`version + 1` })
        .where('business_id', '=', businessId)
        .where('id', '=', customerId)
      if (expected) update = update.where(versionIsOneOf(expected))
      return update.returning(['business_id', 'id', 'version'])
    })
    .updateTable('customer_preferences as p')
    .set({ ...changes, updated_at: sql`now()` })
    .from('customer as c')
    .where('p.business_id', '=', businessId)
    .where('p.customer_id', '=', customerId)
    .whereRef('p.business_id', '=', 'c.business_id')
    .whereRef('p.customer_id', '=', 'c.id')
    .returningAll('p')
    .returning('c.version')
    .executeTakeFirst()
}

/** The erasure: the best time to contact the customer is personal; the rest is the shop's. */
export async function eraseContactTime(
  db: Executor,
  businessId: number,
  customerId: number,
): Promise<void> {
  await db
    .updateTable('customer_preferences')
    .set({ best_contact_time: null, updated_at: sql`now()` })
    .where('business_id', '=', businessId)
    .where('customer_id', '=', customerId)
    .execute()
}
