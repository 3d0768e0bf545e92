/**
 * `npm run recompute -- --business N [--check]`: rewrites every purchase-history row of the
 * business from the sales ledger, or with --check only reports the rows that differ (exit 1).
 */
import { parseArgs } from 'node:util'
import { connectDatabase, databaseTargetOf } from '../db/connect.js'
import { ConfigError, loadConfig } from '../lib/config.js'
import { recomputeBusinessHistory, staleHistories } from '../services/purchase-history.js'

const { values } = parseArgs({
  options: { business: { type: 'string' }, check: { type: 'boolean', default: false } },
})
const businessId = Number(values.business)
if (!Number.isInteger(businessId) || businessId < 1) {
  console.error('usage: npm run recompute -- --business <id> [--check]')
  process.exit(2)
}

let exitCode = 0
try {
  const { db } = await connectDatabase(databaseTargetOf(loadConfig()))
  try {
    if (values.check) {
      const stale = await staleHistories(db, businessId)
      for (const row of stale) {
        console.log(
          `customer ${row.customer_id}: cached ${JSON.stringify(row.cached)} != ledger ${JSON.stringify(row.fresh)}`,
        )
      }
      console.log(
        `business ${businessId}: ${stale.length} purchase-history rows differ from the ledger`,
      )
      exitCode = stale.length > 0 ? 1 : 0
    } else {
      const changed = await recomputeBusinessHistory(db, businessId)
      console.log(`business ${businessId}: recomputed from the ledger, ${changed} rows changed`)
    }
  } finally {
    await db.destroy()
  }
} catch (error) {
  console.error(error instanceof ConfigError ? error.message : (error as Error).message)
  exitCode = 2
}
process.exit(exitCode)
