/**
 * `npm run recompute -- --business N [--check]`: rewrites every purchase-history row of the
 * business from the sales ledger, or with --check only reports the rows that differ (exit 1).
 */
import { connectDatabase, databaseTargetOf } from '../db/connect.js'
import { ConfigError, loadConfig } from '../lib/config.js'
import { recomputeBusinessHistory, staleHistories } from '../services/purchase-history.js'
import { flag, parseCommandLine, positiveInteger, required } from './cli.js'

const values = parseCommandLine({
  command: 'npm run recompute',
  summary:
    'Rewrites every purchase-history row of the business that differs from a recomputation from its sales ledger; with --check writes nothing, lists the rows that differ and exits 1 if any does. On DATABASE_URL, or the embedded database in DATA_DIR.',
  options: {
    business: required(positiveInteger, { placeholder: '<id>', description: 'the business' }),
    check: flag('only compare, change nothing'),
  },
})
const businessId = values.business

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
