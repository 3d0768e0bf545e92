import type { Executor } from './executor.js'

/** Creates the business on first use; the token that granted it is the authority. */
export async function ensureBusiness(db: Executor, businessId: number): Promise<void> {
  await db
    .insertInto('businesses')
    .values({ id: businessId })
    .onConflict((conflict) => conflict.column('id').doNothing())
    .execute()
}

export async function findBusinessCountry(db: Executor, businessId: number): Promise<string> {
  const row = await db
    .selectFrom('businesses')
    .select('country')
    .where('id', '=', businessId)
    .executeTakeFirst()
  return row?.country ?? 'KE'
}
