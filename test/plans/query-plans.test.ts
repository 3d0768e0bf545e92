import { sql } from 'kysely'
import t from 'tap'
import {
  findMetricsRow,
  findStalePurchaseHistory,
  listRepeatCustomers,
  recomputePurchaseHistory,
} from '../../db/customer-purchase-history.js'
import { attachUnattributedSales, listSales } from '../../db/customer-sales.js'
import {
  listDuplicatePairs,
  rebuildDuplicates,
  refreshCustomerDuplicates,
} from '../../db/customer-duplicates.js'
import { findCustomerDetail, listCustomers, searchCustomers } from '../../db/customers.js'
import { phoneSearchDigits, phoneSha256, toE164 } from '../../lib/phone.js'
import {
  insertCustomers,
  insertDependents,
  insertNotes,
  insertRareCustomers,
  insertSales,
} from '../../scripts/seed/generate.js'
import { onPostgres, testDatabase } from '../helper.js'
import {
  explainFirstQuery,
  explainGenericPlan,
  indexesIn,
  seqScannedRelations,
} from '../support/explain.js'

/**
 * Pins the plans of the hot queries on a seeded, ANALYZEd table: a change that loses one of
 * these indexes (a rewritten query, a dropped or renamed index) fails here, not in production.
 */
const BUSINESS = 900
/**
 * 10,000 customers (30,000 sales) pin the same plans as 100,000 did, on PostgreSQL 15 and on
 * PGlite: every index name used and no sequential scan, case by case (the comments list them);
 * building 100,000 cost about two minutes of CPU on PGlite. PLAN_CUSTOMERS=100000 checks the
 * plans at the larger size again.
 */
const CUSTOMERS = Number(process.env.PLAN_CUSTOMERS ?? 10_000)

t.test('hot queries use their indexes', async (t) => {
  const database = await testDatabase()
  t.comment(`planner: ${onPostgres() ? 'PostgreSQL' : 'PGlite'}; ${CUSTOMERS} customers`)
  const { db } = database
  for (const id of [BUSINESS, BUSINESS + 1]) {
    await db
      .insertInto('businesses')
      .values({ id })
      .onConflict((c) => c.column('id').doNothing())
      .execute()
  }
  const tick = () => {}
  const range = await insertCustomers(db, BUSINESS, CUSTOMERS, tick)
  await insertRareCustomers(db, BUSINESS)
  await insertSales(db, BUSINESS, range, CUSTOMERS * 3, tick)
  await insertDependents(db, BUSINESS, range.minId)
  await insertNotes(db, BUSINESS, range, CUSTOMERS / 5)
  const other = await insertCustomers(db, BUSINESS + 1, CUSTOMERS / 10, tick)
  await insertDependents(db, BUSINESS + 1, other.minId)
  t.same(
    await findStalePurchaseHistory(db, BUSINESS),
    [],
    'the generated history equals a recomputation from the ledger',
  )
  await rebuildDuplicates(db, BUSINESS)
  // The generated data has hardly any duplicates: pairs enough for a real table (a customer in
  // every 5th has 4, with a spread of scores), stored as a refresh would store them.
  await sql`insert into customer_duplicates (business_id, low_id, high_id, score, reasons)
    select ${BUSINESS}, c.id, c.id + k, (50 + (c.id * 7 + k) % 51) / 100.0, array['similar_name']
    from customers c cross join generate_series(1, 4) k
    where c.business_id = ${BUSINESS} and c.id % 5 = 0
    on conflict do nothing`.execute(db)
  await sql`analyze`.execute(db)

  const customerId = range.minId + 1234
  const { rows: phoned } = await sql<{ phone: string }>`select phone from customers
    where business_id = ${BUSINESS} and phone is not null order by id limit 1`.execute(db)
  // A payer's number and an M-Pesa hash both become this lookup.
  const payerHash = phoneSha256(phoned[0]!.phone)
  const plan = (work: Parameters<typeof explainFirstQuery>[1]) =>
    explainFirstQuery(database.dialect, work)
  const search = (text: string) =>
    plan((db) =>
      searchCustomers(db, BUSINESS, {
        text,
        phoneDigits: phoneSearchDigits(text, 'KE'),
        phoneExact: toE164(text, 'KE'),
        limit: 10,
      }),
    )
  const list = (sortBy: 'created_at' | 'name' | 'id') =>
    plan((db) =>
      listCustomers(db, BUSINESS, {
        limit: 21,
        offset: 0,
        sortBy,
        sortOrder: 'desc',
        isActive: true,
      }),
    )

  const cases: {
    name: string
    explain: () => ReturnType<typeof plan>
    uses: string[]
    avoids?: string[]
  }[] = [
    {
      name: 'search, rare name',
      explain: () => search('lemayia'),
      uses: ['customers_search_name'],
    },
    {
      name: 'search, phone fragment',
      explain: () => search('7766454'),
      uses: ['customers_search_name', 'customers_search_digits'],
      // Digit trigrams have long posting lists: the fragment must not go through them.
      avoids: ['customers_search_email', 'customers_search_phone'],
    },
    {
      name: 'search, phone in local format',
      explain: () => search('0712 776'),
      uses: ['customers_search_digits'],
    },
    {
      name: 'search, short phone fragment',
      explain: () => search('7766'),
      uses: ['customers_search_phone'],
    },
    {
      name: 'search, email fragment',
      explain: () => search('kirui123'),
      uses: ['customers_search_email'],
    },
    {
      name: 'list by created_at',
      explain: () => list('created_at'),
      uses: ['customers_list_created_at'],
    },
    { name: 'list by name', explain: () => list('name'), uses: ['customers_list_name'] },
    { name: 'list by id', explain: () => list('id'), uses: ['customers_pkey'] },
    {
      name: 'list, keyset page',
      explain: () =>
        plan((db) =>
          listCustomers(db, BUSINESS, {
            limit: 21,
            offset: 0,
            sortBy: 'created_at',
            sortOrder: 'desc',
            isActive: true,
            after: { key: new Date().toISOString(), id: customerId },
          }),
        ),
      uses: ['customers_list_created_at'],
    },
    {
      name: 'repeat customers',
      explain: () =>
        plan((db) => listRepeatCustomers(db, BUSINESS, { minPurchases: 2, limit: 20, offset: 0 })),
      uses: ['customer_purchase_history_repeat'],
    },
    {
      name: 'purchase history',
      explain: () =>
        plan((db) => listSales(db, { businessId: BUSINESS, customerId }, { limit: 10, offset: 0 })),
      uses: ['customer_sales_by_customer'],
    },
    {
      name: 'get customer',
      explain: () => plan((db) => findCustomerDetail(db, BUSINESS, customerId, 100)),
      uses: ['customers_pkey', 'customer_notes_by_customer'],
    },
  ]
  for (const c of cases) {
    const { plan: explained } = await c.explain()
    const used = indexesIn(explained)
    t.comment(
      `${c.name}: indexes ${used.join(', ')}; seq scans: ${seqScannedRelations(explained).join(', ') || 'none'}`,
    )
    for (const index of c.uses) {
      t.ok(used.includes(index), `${c.name}: uses ${index}`, { used })
    }
    for (const index of c.avoids ?? []) {
      t.notOk(used.includes(index), `${c.name}: does not use ${index}`, { used })
    }
    t.notOk(
      seqScannedRelations(explained).includes('customers'),
      `${c.name}: no sequential scan of customers`,
    )
  }
  // A GIN pending list is read in full by every search until a vacuum: the search indexes have none.
  const { rows: searchIndexOptions } = await sql<{ name: string; options: string[] | null }>`
    select c.relname as name, c.reloptions as options
    from pg_index i join pg_class c on c.oid = i.indexrelid
    where i.indrelid = 'customers'::regclass and c.relname like 'customers_search_%'
    order by 1`.execute(db)
  t.same(
    searchIndexOptions,
    [
      'customers_search_digits',
      'customers_search_email',
      'customers_search_name',
      'customers_search_phone',
    ].map((name) => ({ name, options: ['fastupdate=off'] })),
    'search indexes without fast update',
  )

  // executeFixedPlan statements may run on their generic plan: it must be as good.
  const generic = (work: Parameters<typeof explainGenericPlan>[1]) =>
    explainGenericPlan(database.dialect, work)
  const fixedPlanCases: {
    name: string
    explain: () => ReturnType<typeof generic>
    uses: string[]
  }[] = [
    {
      name: 'get customer',
      explain: () => generic((db) => findCustomerDetail(db, BUSINESS, customerId, 100)),
      uses: ['customers_pkey', 'customer_notes_by_customer'],
    },
    {
      name: 'metrics',
      explain: () => generic((db) => findMetricsRow(db, BUSINESS, customerId)),
      uses: ['customers_pkey'],
    },
    {
      name: 'purchase history',
      explain: () =>
        generic((db) =>
          listSales(db, { businessId: BUSINESS, customerId }, { limit: 10, offset: 0 }),
        ),
      uses: ['customer_sales_by_customer'],
    },
    {
      name: "one customer's recomputation",
      explain: () => generic((db) => recomputePurchaseHistory(db, BUSINESS, customerId)),
      uses: ['customer_sales_by_customer'],
    },
    {
      name: 'duplicates, first page',
      explain: () =>
        generic((db) => listDuplicatePairs(db, BUSINESS, { minScore: 0.5, limit: 21 })),
      uses: ['customer_duplicates_by_score'],
    },
    {
      name: 'duplicates, a later page',
      explain: () =>
        generic((db) =>
          listDuplicatePairs(db, BUSINESS, {
            minScore: 0.5,
            limit: 21,
            after: { score: '0.75', lowId: customerId, highId: customerId + 1 },
          }),
        ),
      uses: ['customer_duplicates_by_score'],
    },
    {
      // Both sides of a pair: the primary key as the lower id, by_high_id as the higher.
      name: 'duplicates of one customer',
      explain: () =>
        generic((db) => listDuplicatePairs(db, BUSINESS, { customerId, minScore: 0.5, limit: 21 })),
      uses: ['customer_duplicates_pkey', 'customer_duplicates_by_high_id'],
    },
    {
      // The customer by key; the others sharing its phone, e-mail or last 7 digits; its pairs.
      name: "a customer's duplicates refreshed",
      explain: () => generic((db) => refreshCustomerDuplicates(db, BUSINESS, customerId)),
      uses: [
        'customers_pkey',
        'customers_by_phone_sha256',
        'customers_by_email',
        'customers_by_phone_tail',
        'customer_duplicates_pkey',
        'customer_duplicates_by_high_id',
      ],
    },
    {
      name: "a payer's waiting sales (attached when the phone registers)",
      explain: () => generic((db) => attachUnattributedSales(db, BUSINESS, customerId, payerHash)),
      uses: ['customer_sales_unattributed'],
    },
  ]
  for (const c of fixedPlanCases) {
    const { plan: explained } = await c.explain()
    const used = indexesIn(explained)
    t.comment(
      `${c.name}, generic plan: indexes ${used.join(', ')}; seq scans: ${seqScannedRelations(explained).join(', ') || 'none'}`,
    )
    for (const index of c.uses) {
      t.ok(used.includes(index), `${c.name}, generic plan: uses ${index}`, { used })
    }
    t.same(seqScannedRelations(explained), [], `${c.name}, generic plan: no sequential scan`)
  }
})
