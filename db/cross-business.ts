import { sql, type RawBuilder } from 'kysely'

/**
 * Marks a statement that spans businesses on purpose — maintenance or a dispatcher that looks
 * for work in every business. Every other statement pins business_id, so that it runs on one
 * shard when the tables are distributed by it; the suite checks that and lets marked statements
 * through (docs/scaling.md).
 */
export function crossBusiness(reason: string): RawBuilder<unknown> {
  if (reason.includes('*/')) throw new Error('a cross-business reason cannot close its comment')
  return sql.raw(`/* cross-business: ${reason} */`)
}
