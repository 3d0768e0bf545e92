/**
 * `npm run seed -- --customers 1000000 --business 5 [--sales 3000000] [--businesses 20]
 *  [--notes 200000]`: bulk-generates realistic Kenyan customers, preferences, notes and a sales
 * ledger with set-based SQL (generate_series, never row by row), then computes the
 * purchase-history cache from the ledger, so `npm run recompute -- --check` finds nothing.
 * `--businesses N` adds N-1 smaller businesses (a tenth of the customers each, at most 50,000)
 * beside the one under test. The trigram indexes are dropped during the load and rebuilt after.
 */
import { parseArgs } from 'node:util'
import { SingleBar, Presets } from 'cli-progress'
import { sql } from 'kysely'
import { connectDatabase } from '../db/connect.js'
import { recomputePurchaseHistory } from '../db/customer-purchase-history.js'
import { migrateToLatest } from '../db/migrate.js'
import { ConfigError, loadConfig } from '../lib/config.js'
import { databaseTargetOf } from '../plugins/db.js'
import { ensureDatabaseExists } from './seed/ensure-database.js'
import { RARE_NAMES, SEARCH_INDEX_NAMES } from './seed/data.js'
import {
  insertCustomers,
  insertDependents,
  insertNotes,
  insertRareCustomers,
  insertSales,
} from './seed/generate.js'

const { values } = parseArgs({
  options: {
    customers: { type: 'string', default: '100000' },
    business: { type: 'string', default: '5' },
    sales: { type: 'string' },
    businesses: { type: 'string', default: '1' },
    notes: { type: 'string' },
  },
})
const customers = Number(values.customers)
const businessId = Number(values.business)
const sales = Number(values.sales ?? customers * 3)
const businesses = Number(values.businesses)
const notes = Number(values.notes ?? Math.round(customers / 5))
for (const [name, value] of Object.entries({ customers, businessId, sales, businesses, notes })) {
  if (
    !Number.isSafeInteger(value) ||
    value < (name === 'businessId' || name === 'businesses' ? 1 : 0)
  ) {
    console.error(`--${name} must be a non-negative integer`)
    process.exit(2)
  }
}

async function main(): Promise<void> {
  const config = loadConfig()
  const target = databaseTargetOf(config)
  if (target.kind === 'postgres') await ensureDatabaseExists(target.url)
  const { db } = await connectDatabase(target)
  try {
    await migrateToLatest(db)
    await sql`set maintenance_work_mem = '1GB'`.execute(db).catch(() => {})
    await sql`set synchronous_commit = off`.execute(db).catch(() => {})

    const others = Array.from({ length: businesses - 1 }, (_, index) => businessId + 1 + index)
    const otherCustomers = Math.min(50_000, Math.floor(customers / 10))
    const totalRows = customers + sales + others.length * otherCustomers * 4
    const bar = new SingleBar(
      {
        format: ' {bar} {percentage}% | {value}/{total} rows | {step} | {duration_formatted}',
        // Without a terminal (CI logs, a redirected run) the bar prints a line every 10 s.
        noTTYOutput: true,
        notTTYSchedule: 10_000,
      },
      Presets.shades_classic,
    )
    bar.start(totalRows, 0, { step: 'starting' })
    const started = Date.now()
    const step = (name: string) => bar.update({ step: name })
    const tick = (rows: number) => bar.increment(rows)

    for (const id of [businessId, ...others]) {
      await db
        .insertInto('businesses')
        .values({ id })
        .onConflict((c) => c.column('id').doNothing())
        .execute()
    }
    step('dropping search indexes for the load')
    // Rebuilt from their own definitions, so the migration stays the one place that states them.
    const { rows: searchIndexes } = await sql<{ indexname: string; indexdef: string }>`
      select indexname, indexdef from pg_indexes
      where tablename = 'customers' and indexname in (${sql.join([...SEARCH_INDEX_NAMES])})`.execute(
      db,
    )
    for (const index of searchIndexes) await sql`drop index ${sql.ref(index.indexname)}`.execute(db)

    step(`customers of business ${businessId}`)
    const range = await insertCustomers(db, businessId, customers, tick)
    await insertRareCustomers(db, businessId)
    step('preferences and purchase history rows')
    await insertDependents(db, businessId, range.minId)
    step('sales ledger')
    await insertSales(db, businessId, range, sales, tick)
    step('notes')
    await insertNotes(db, businessId, range, notes)
    for (const other of others) {
      step(`business ${other}`)
      const otherRange = await insertCustomers(db, other, otherCustomers, tick)
      await insertDependents(db, other, otherRange.minId)
      await insertSales(db, other, otherRange, otherCustomers * 3, tick)
    }
    step('rebuilding search indexes')
    // Built side by side: each build is single-threaded, and there are two cores.
    await Promise.all(searchIndexes.map((index) => sql.raw(index.indexdef).execute(db)))
    step('purchase history from the ledger')
    for (const id of [businessId, ...others]) {
      await db.transaction().execute((trx) => recomputePurchaseHistory(trx, id))
    }
    step('analyze')
    await sql`analyze`.execute(db)
    bar.update(totalRows, { step: 'done' })
    bar.stop()
    const seconds = ((Date.now() - started) / 1000).toFixed(1)
    console.log(
      `seeded business ${businessId}: ${customers} customers (+${RARE_NAMES.length} rare names), ${sales} sales, ${notes} notes; ${others.length} other businesses of ${otherCustomers}; ${seconds} s`,
    )
  } finally {
    await db.destroy()
  }
}

try {
  await main()
} catch (error) {
  console.error(error instanceof ConfigError ? error.message : error)
  process.exit(1)
}
