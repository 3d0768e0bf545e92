/**
 * `npm run seed -- --customers 1000000 --business 5 [--sales 3000000] [--businesses 20]
 *  [--notes 200000]`: bulk-generates realistic Kenyan customers, preferences, notes and a sales
 * ledger with set-based SQL (generate_series, never row by row), and the purchase-history cache
 * computed from that ledger by the same SQL as the service's, so `npm run recompute -- --check`
 * finds nothing.
 * `--businesses N` adds N-1 smaller businesses (a tenth of the customers each, at most 50,000)
 * beside the one under test. Secondary indexes are dropped for the load and built after it.
 * It fills only empty businesses: with customers or sales already there it stops before writing.
 */
import { SingleBar, Presets } from 'cli-progress'
import { sql } from 'kysely'
import { connectDatabase, databaseTargetOf } from '../db/connect.js'
import { rebuildDuplicates } from '../db/customer-duplicates.js'
import { migrateToLatest } from '../db/migrate.js'
import { ConfigError, loadConfig } from '../lib/config.js'
import { DataDirectoryInUse } from '../lib/data-dir-lock.js'
import {
  nonNegativeInteger,
  optional,
  parseCommandLine,
  positiveInteger,
  withDefault,
} from './cli.js'
import { ensureDatabaseExists } from './seed/ensure-database.js'
import { DEFERRED_INDEX_NAMES, RARE_NAMES } from './seed/data.js'
import { describeOccupied, occupiedBusinesses } from './seed/occupied-businesses.js'
import {
  insertCustomers,
  insertDependents,
  insertNotes,
  insertRareCustomers,
  insertSales,
  numberLoadedEvents,
} from './seed/generate.js'

const values = parseCommandLine({
  command: 'npm run seed',
  summary:
    'Bulk-generates customers, preferences, notes and a sales ledger (with the purchase history computed from it) in empty businesses, on DATABASE_URL (created if missing) or the embedded database in DATA_DIR. A business that already has customers or sales stops it before it writes anything.',
  options: {
    customers: withDefault(positiveInteger, {
      placeholder: '<n>',
      description: 'customers of the business under test',
      default: 100_000,
    }),
    business: withDefault(positiveInteger, {
      placeholder: '<id>',
      description: 'the business under test',
      default: 5,
    }),
    sales: optional(nonNegativeInteger, {
      placeholder: '<n>',
      description: 'sales of the business under test',
      absent: 'default: 3 × --customers',
    }),
    businesses: withDefault(positiveInteger, {
      placeholder: '<n>',
      description:
        'businesses in all: the others (ids after --business) get a tenth of the customers each, at most 50,000',
      default: 1,
    }),
    notes: optional(nonNegativeInteger, {
      placeholder: '<n>',
      description: 'notes of the business under test',
      absent: 'default: --customers ÷ 5',
    }),
  },
})
const { customers, business: businessId, businesses } = values
const sales = values.sales ?? customers * 3
const notes = values.notes ?? Math.round(customers / 5)

/** Where to seed instead, in the words of the target in use. */
const elsewhere = (kind: 'postgres' | 'embedded') =>
  kind === 'postgres'
    ? 'point DATABASE_URL at a new database (the seed creates it) or drop this one'
    : 'use an empty DATA_DIR or delete the pgdata folder of this one'

/** The exit code: 1 when a target business holds data already. */
async function main(): Promise<number> {
  const config = loadConfig()
  const target = databaseTargetOf(config)
  if (target.kind === 'postgres') await ensureDatabaseExists(target.url)
  const { db } = await connectDatabase(target)
  try {
    const others = Array.from({ length: businesses - 1 }, (_, index) => businessId + 1 + index)
    const occupied = await occupiedBusinesses(db, [businessId, ...others])
    if (occupied.length > 0) {
      console.error(
        `npm run seed: ${describeOccupied(occupied)}; the seed fills only empty businesses and wrote nothing: ${elsewhere(target.kind)}.`,
      )
      return 1
    }
    await migrateToLatest(db)
    await sql`set maintenance_work_mem = '1GB'`.execute(db).catch(() => {})
    await sql`set synchronous_commit = off`.execute(db).catch(() => {})

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
    step('dropping secondary indexes for the load')
    // Rebuilt from their own definitions, so the migration stays the one place that states them.
    const { rows: deferredIndexes } = await sql<{ indexname: string; indexdef: string }>`
      select indexname, indexdef from pg_indexes
      where schemaname = current_schema() and indexname in (${sql.join([...DEFERRED_INDEX_NAMES])})`.execute(
      db,
    )
    for (const index of deferredIndexes)
      await sql`drop index ${sql.ref(index.indexname)}`.execute(db)
    // Likewise the references to customers: one check of every row at the end, not one lookup
    // per inserted row.
    const { rows: deferredReferences } = await sql<{
      table: string
      name: string
      definition: string
    }>`
      select conrelid::regclass::text as table, conname as name,
        pg_get_constraintdef(oid) as definition
      from pg_constraint
      where contype = 'f' and confrelid = 'customers'::regclass`.execute(db)
    for (const reference of deferredReferences) {
      await sql`alter table ${sql.ref(reference.table)} drop constraint ${sql.ref(reference.name)}`.execute(
        db,
      )
    }

    try {
      step(`customers of business ${businessId}`)
      const range = await insertCustomers(db, businessId, customers, tick)
      await insertRareCustomers(db, businessId)
      step('sales ledger')
      await insertSales(db, businessId, range, sales, tick)
      step('purchase history and preferences')
      await insertDependents(db, businessId, range.minId)
      step('notes')
      await insertNotes(db, businessId, range, notes)
      for (const other of others) {
        step(`business ${other}`)
        const otherRange = await insertCustomers(db, other, otherCustomers, tick)
        await insertSales(db, other, otherRange, otherCustomers * 3, tick)
        await insertDependents(db, other, otherRange.minId)
      }
      step('numbering the events in the feed')
      for (const id of [businessId, ...others]) await numberLoadedEvents(db, id)
    } finally {
      // Also after a failed load: the database must not be left without its indexes.
      step('building the deferred indexes')
      // Two at a time, one per core, each with the memory to sort in one pass.
      const queue = [...deferredIndexes]
      const buildNext = async (): Promise<void> => {
        const index = queue.shift()
        if (!index) return
        await db.transaction().execute(async (trx) => {
          await sql`set local maintenance_work_mem = '1GB'`.execute(trx)
          await sql.raw(index.indexdef).execute(trx)
        })
        await buildNext()
      }
      await Promise.all([buildNext(), buildNext()])
      step('checking the references to customers')
      for (const reference of deferredReferences) {
        await sql`alter table ${sql.ref(reference.table)} add constraint ${sql.ref(reference.name)}
          ${sql.raw(reference.definition)}`.execute(db)
      }
    }
    // With the indexes back: the same pairs the writes would have kept, set-based.
    let pairs = 0
    for (const id of [businessId, ...others]) {
      step(`duplicate candidates of business ${id}`)
      pairs += await rebuildDuplicates(db, id)
    }
    // The load leaves dead versions (each customer's change merged with its later writes, each
    // event numbered), and servers may run without autovacuum (this machine's CI configuration
    // does): vacuumed here, so the first benchmark does not scan millions of dead rows or pay for
    // their cleanup.
    step('vacuum and analyze')
    await sql`vacuum (analyze)`.execute(db)
    bar.update(totalRows, { step: 'done' })
    bar.stop()
    const seconds = ((Date.now() - started) / 1000).toFixed(1)
    console.log(
      `seeded business ${businessId}: ${customers} customers (+${RARE_NAMES.length} rare names), ${sales} sales, ${notes} notes; ${others.length} other businesses of ${otherCustomers}; ${pairs} duplicate pairs; ${seconds} s`,
    )
    return 0
  } finally {
    await db.destroy()
  }
}

try {
  // Set here, after the database is closed: closing embedded PostgreSQL sets process.exitCode.
  process.exit(await main())
} catch (error) {
  const oneLine = error instanceof ConfigError || error instanceof DataDirectoryInUse
  console.error(oneLine ? error.message : error)
  process.exit(1)
}
