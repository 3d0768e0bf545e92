import {
  sql,
  type CompiledQuery,
  type Insertable,
  type RawBuilder,
  type Selectable,
  type Updateable,
} from 'kysely'
import { jsonArrayFrom, jsonObjectFrom } from 'kysely/helpers/postgres'
import type { CustomersTable, CustomerType } from './database.js'
import { customerTotalQuery } from './customer-counts.js'
import type { Executor } from './executor.js'
import { compiledOnce, compiledPerShape, type BoundValue } from './compiled-once.js'
import { executeFixedPlan } from './prepared-statements.js'

export type CustomerRow = Selectable<CustomersTable>
export type NewCustomer = Omit<Insertable<CustomersTable>, 'business_id'>
export type CustomerChanges = Omit<
  Updateable<CustomersTable>,
  'id' | 'business_id' | 'created_at' | 'version'
>

/**
 * The versions a conditional change accepts (If-Match); undefined: any. An empty list matches
 * nothing. Checked in the statement that changes the row, so no other change slips in between.
 */
export type ExpectedVersions = readonly number[] | undefined

export function versionIsOneOf(expected: readonly number[]): RawBuilder<boolean> {
  return expected.length === 0
    ? sql<boolean>`false`
    : sql<boolean>`version in (${sql.join(expected.map((version) => sql`${version}::int`))})`
}

export async function insertCustomer(
  db: Executor,
  businessId: number,
  customer: NewCustomer,
): Promise<CustomerRow> {
  const [row] = await insertCustomers(db, businessId, [customer])
  if (!row) throw new Error('the insert returned no customer')
  return row
}

/** New customers in one statement; returned in the order given (their ids ascending). */
export async function insertCustomers(
  db: Executor,
  businessId: number,
  customers: NewCustomer[],
): Promise<CustomerRow[]> {
  if (customers.length === 0) return []
  const rows = await db
    .insertInto('customers')
    .values(customers.map((customer) => ({ ...customer, business_id: businessId })))
    .returningAll()
    .execute()
  return rows.sort((a, b) => a.id - b.id)
}

/**
 * An import's upsert match: the oldest active customer with this phone (by its SHA-256, hex),
 * and the oldest with this e-mail (case-insensitive), through the indexes the payer and duplicate
 * lookups use, in one statement; null where there is none.
 */
export async function findUpsertMatches(
  db: Executor,
  businessId: number,
  keys: { phoneSha256: string | null; email: string | null },
): Promise<{ byPhone: number | null; byEmail: number | null }> {
  const { rows } = await sql<{ by_phone: number | null; by_email: number | null }>`select
      (select id from customers
        where business_id = ${businessId} and is_active and phone_sha256 is not null
          and phone_sha256 = decode(${keys.phoneSha256}::text, 'hex')
        order by id limit 1) as by_phone,
      (select id from customers
        where business_id = ${businessId} and is_active and email is not null
          and lower(email) = lower(${keys.email}::text)
        order by id limit 1) as by_email`.execute(db)
  return { byPhone: rows[0]?.by_phone ?? null, byEmail: rows[0]?.by_email ?? null }
}

export async function findCustomerRow(
  db: Executor,
  businessId: number,
  customerId: number,
): Promise<CustomerRow | undefined> {
  return db
    .selectFrom('customers')
    .selectAll()
    .where('business_id', '=', businessId)
    .where('id', '=', customerId)
    .executeTakeFirst()
}

/**
 * Refreshes the planner's statistics of the tables a bulk load of customers grows (sampled, a
 * second or so at a million rows, no lock that stops reads or writes). A bulk load changes a
 * business's size faster than autovacuum follows: planned for the business it was (a new shop:
 * one customer), the duplicate and upsert lookups walk the whole business instead of their
 * indexes, and so does the consent views' read of a batch's records (500 customers' records
 * found by filtering all of the business's: 20 ms per batch at first, 350 ms at 100,000).
 */
export async function analyzeCustomerTables(db: Executor): Promise<void> {
  await sql`analyze customers, customer_preferences, customer_consents, customer_changes`.execute(
    db,
  )
}

export async function customerExists(
  db: Executor,
  businessId: number,
  customerId: number,
): Promise<boolean> {
  const row = await db
    .selectFrom('customers')
    .select('id')
    .where('business_id', '=', businessId)
    .where('id', '=', customerId)
    .executeTakeFirst()
  return row !== undefined
}

/** The customer's current version; undefined when there is no such customer. */
export async function customerVersion(
  db: Executor,
  businessId: number,
  customerId: number,
): Promise<number | undefined> {
  const row = await db
    .selectFrom('customers')
    .select('version')
    .where('business_id', '=', businessId)
    .where('id', '=', customerId)
    .executeTakeFirst()
  return row?.version
}

/**
 * Adds one to the customer's version and nothing else, locking its row for the rest of the
 * transaction (a consent write: its flags are stored after, from the ledger). Undefined when
 * there is no such customer.
 */
export async function bumpVersion(
  db: Executor,
  businessId: number,
  customerId: number,
): Promise<number | undefined> {
  const row = await db
    .updateTable('customers')
    .set({ version: sql`version + 1` })
    .where('business_id', '=', businessId)
    .where('id', '=', customerId)
    .returning('version')
    .executeTakeFirst()
  return row?.version
}

/**
 * The customer's phone and e-mail as they stand, with the row locked for the rest of the
 * transaction (the update that follows would lock it anyway): what its duplicate pairs were
 * found by before a change, and whether it is merged into another. Undefined when there is no
 * such customer.
 */
export async function lockContactOf(
  db: Executor,
  businessId: number,
  customerId: number,
): Promise<Pick<CustomerRow, 'phone' | 'email' | 'merged_into' | 'erased_at'> | undefined> {
  return db
    .selectFrom('customers')
    .select(['phone', 'email', 'merged_into', 'erased_at'])
    .where('business_id', '=', businessId)
    .where('id', '=', customerId)
    .forNoKeyUpdate()
    .executeTakeFirst()
}

/** Changes the row and adds one to its version; no row when absent or the version differs. */
export async function updateCustomer(
  db: Executor,
  businessId: number,
  customerId: number,
  changes: CustomerChanges,
  expected: ExpectedVersions = undefined,
): Promise<CustomerRow | undefined> {
  let update = db
    .updateTable('customers')
    .set({ ...changes, version: sql`version + 1`, updated_at: sql`now()` })
    .where('business_id', '=', businessId)
    .where('id', '=', customerId)
  if (expected) update = update.where(versionIsOneOf(expected))
  return update.returningAll().executeTakeFirst()
}

/** Soft delete. Every delete adds one to the version; a second changes nothing else, not even updated_at. */
export async function deactivateCustomer(
  db: Executor,
  businessId: number,
  customerId: number,
  expected: ExpectedVersions = undefined,
): Promise<CustomerRow | undefined> {
  let update = db
    .updateTable('customers')
    .set({
      is_active: false,
      version: sql`version + 1`,
      updated_at: sql`case when is_active then now() else updated_at end`,
    })
    .where('business_id', '=', businessId)
    .where('id', '=', customerId)
  if (expected) update = update.where(versionIsOneOf(expected))
  return update.returningAll().executeTakeFirst()
}

/** The name an erased customer keeps: the row stays for the shop's books. */
export const ERASED_NAME = 'Erased customer'

/**
 * Erases the customer's own fields: the name becomes `Erased customer`, phone, e-mail and
 * address are removed, and it is inactive for good with `erased_at`; version + 1.
 */
export async function eraseCustomerRow(
  db: Executor,
  businessId: number,
  customerId: number,
): Promise<CustomerRow | undefined> {
  return db
    .updateTable('customers')
    .set({
      name: ERASED_NAME,
      phone: null,
      email: null,
      address: null,
      is_active: false,
      erased_at: sql`now()`,
      version: sql`version + 1`,
      updated_at: sql`now()`,
    })
    .where('business_id', '=', businessId)
    .where('id', '=', customerId)
    .returningAll()
    .executeTakeFirst()
}

export interface ListCustomersQuery {
  limit: number
  offset: number
  sortBy: 'created_at' | 'name' | 'id'
  sortOrder: 'asc' | 'desc'
  isActive: boolean
  customerType?: CustomerType
  /** Keyset paging: rows strictly after this sort key and id, in the list's order. */
  after?: { key: string; id: number }
}

const SORT_KEYS = {
  created_at: {
    expression: sql`created_at`,
    cast: sql`::timestamptz`,
    asText: sql<string>`created_at::text`,
  },
  name: { expression: sql`lower(name)`, cast: sql``, asText: sql<string>`lower(name)` },
  id: { expression: sql`id`, cast: sql`::bigint`, asText: sql<string>`id::text` },
} as const

type ListedCustomer = CustomerRow & { sort_key: string; total: number | null }

/** What decides a list's statement text; everything else is a bound value. */
interface ListShape {
  sortBy: ListCustomersQuery['sortBy']
  sortOrder: ListCustomersQuery['sortOrder']
  typed: boolean
  keyset: boolean
}

/**
 * The page statement of one shape. Its values come in this order: business, is_active, limit,
 * offset, then the customer type when `typed`, then the cursor's key and id when `keyset`.
 */
function buildListPage(db: Executor, shape: ListShape, values: BoundValue[]) {
  const [businessId, isActive, limit, offset, ...rest] = values as [
    number,
    boolean,
    number,
    number,
    ...BoundValue[],
  ]
  const customerType = shape.typed ? (rest.shift() as CustomerType) : undefined
  const sort = SORT_KEYS[shape.sortBy]
  const direction = shape.sortOrder === 'asc' ? sql`asc` : sql`desc`
  let rows = db
    .selectFrom('customers')
    .selectAll()
    .select(sort.asText.as('sort_key'))
    // The filters' total rides along on every row: one round trip for the page and its count.
    .select(customerTotalQuery(db, businessId, isActive, customerType).as('total'))
    .where('business_id', '=', businessId)
    .where('is_active', '=', isActive)
  if (customerType !== undefined) rows = rows.where('customer_type', '=', customerType)
  if (shape.keyset) {
    const [key, id] = rest as [string, number]
    const comparison = shape.sortOrder === 'asc' ? sql`>` : sql`<`
    rows = rows.where(
      sql<boolean>`(${sort.expression}, id) ${comparison} (${key}${sort.cast}, ${id}::bigint)`,
    )
  }
  return rows
    .orderBy(sql`${sort.expression} ${direction}`)
    .orderBy(sql`id ${direction}`)
    .limit(limit)
    .offset(offset)
}

/** One compiled statement per shape (3 orderings × 2 directions × type filter × cursor). */
const listPageOf = compiledPerShape(
  (shape: ListShape) => `${shape.sortBy} ${shape.sortOrder} ${shape.typed} ${shape.keyset}`,
  buildListPage,
)

/**
 * A page of customers in (sort key, id) order, each with its sort key as text for the next
 * cursor. Every ordering has an index that starts (business_id, is_active, key, id). Not a
 * prepared statement: a generic plan would be costed for an average business, not this one.
 */
export async function listCustomers(
  db: Executor,
  businessId: number,
  query: ListCustomersQuery,
): Promise<ListedCustomer[]> {
  const shape: ListShape = {
    sortBy: query.sortBy,
    sortOrder: query.sortOrder,
    typed: query.customerType !== undefined,
    keyset: query.after !== undefined,
  }
  const values: BoundValue[] = [businessId, query.isActive, query.limit, query.offset]
  if (query.customerType !== undefined) values.push(query.customerType)
  if (query.after !== undefined) values.push(query.after.key, query.after.id)
  const compiled = listPageOf(shape)(db, ...values) as CompiledQuery<ListedCustomer>
  return (await db.executeQuery(compiled)).rows
}

export interface SearchCustomersQuery {
  /** The trimmed query text. */
  text: string
  /** Digits to look for in the E.164 phone, when the query looks like a phone number. */
  phoneDigits?: string
  /** The query as an E.164 number, when it is a whole valid one. */
  phoneExact?: string
  limit: number
}

/** `%`, `_` and `\` match themselves. */
function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (character) => `\\${character}`)
}

/** Digit fragments this long are found through the digit-gram index, shorter ones by trigrams. */
const DIGIT_GRAM_LENGTH = 5

/**
 * Rows that may hold these digits in their phone or e-mail (the `customers_search_digits`
 * index); the caller still checks the substring.
 */
function mayHoldDigits(digits: string): RawBuilder<boolean> {
  return sql<boolean>`(digit_grams(phone) || digit_grams(email)) @> digit_grams(${digits})`
}

const isDigitFragment = (text: string): boolean =>
  text.length >= DIGIT_GRAM_LENGTH && /^[0-9]+$/.test(text)

/** What decides a search's statement text; everything else is a bound value. */
interface SearchShape {
  /** The text is a digit fragment long enough for the digit-gram index. */
  digitText: boolean
  /** The phone column's form of the number, when it differs from the text: absent, or how found. */
  phoneForm: 'none' | 'like' | 'digit grams'
  phonePrefix: boolean
  phoneExact: boolean
}

/**
 * The search statement of one shape. Its values: business, the escaped text, the text, then
 * (by shape) the phone digits with `%…%` and bare, `+…%`, the E.164 number; the limit last.
 */
function buildSearch(db: Executor, shape: SearchShape, values: BoundValue[]) {
  const next = (() => {
    let index = 0
    return () => values[index++]
  })()
  const businessId = next() as number
  const needle = next() as string
  const text = next() as string
  const contains = sql`'%' || lower(${needle}) || '%'`
  const startsWith = sql`lower(${needle}) || '%'`
  const exact = sql`lower(${text})`
  const emailOrPhoneContains = sql<boolean>`(lower(email) like ${contains} escape '\\'
    or phone like ${contains} escape '\\')`
  const matches = [
    sql<boolean>`lower(name) like ${contains} escape '\\'`,
    shape.digitText
      ? sql<boolean>`(${mayHoldDigits(text)} and ${emailOrPhoneContains})`
      : emailOrPhoneContains,
  ]
  // The number as the phone column holds it ('0712 345' is 254712345), when that differs.
  if (shape.phoneForm !== 'none') {
    const phoneContains = sql<boolean>`phone like ${next()}`
    const digits = next() as string
    matches.push(
      shape.phoneForm === 'digit grams'
        ? sql<boolean>`(${mayHoldDigits(digits)} and ${phoneContains})`
        : phoneContains,
    )
  }
  const phoneStartsWith = shape.phonePrefix ? sql`phone like ${next()}` : sql`false`
  const phoneExact = shape.phoneExact ? sql`phone = ${next()}` : sql`false`
  return db
    .selectFrom('customers')
    .selectAll()
    .where('business_id', '=', businessId)
    .where('is_active', '=', true)
    .where(sql<boolean>`(${sql.join(matches, sql` or `)})`)
    .orderBy(
      sql`case
        when lower(name) = ${exact} or lower(email) = ${exact} or ${phoneExact} then 0
        when lower(name) like ${startsWith} escape '\\' or lower(email) like ${startsWith} escape '\\'
          or ${phoneStartsWith} then 1
        else 2 end`,
    )
    .orderBy(sql`lower(name)`)
    .orderBy('id')
    .limit(next() as number)
}

/** One compiled statement per shape (at most 24). */
const searchOf = compiledPerShape(
  (shape: SearchShape) =>
    `${shape.digitText} ${shape.phoneForm} ${shape.phonePrefix} ${shape.phoneExact}`,
  buildSearch,
)

/**
 * Active customers whose name, email or phone contains the query; exact, then prefix, then
 * substring. Not a prepared statement: the plan depends on the text (a rare name, a common one).
 */
export async function searchCustomers(
  db: Executor,
  businessId: number,
  query: SearchCustomersQuery,
): Promise<CustomerRow[]> {
  const { text, phoneDigits, phoneExact } = query
  const values: BoundValue[] = [businessId, escapeLike(text), text]
  let phoneForm: SearchShape['phoneForm'] = 'none'
  if (phoneDigits && phoneDigits !== text) {
    phoneForm = isDigitFragment(phoneDigits) ? 'digit grams' : 'like'
    values.push(`%${phoneDigits}%`, phoneDigits)
  }
  if (phoneDigits) values.push(`+${phoneDigits}%`)
  if (phoneExact) values.push(phoneExact)
  values.push(query.limit)
  const shape: SearchShape = {
    digitText: isDigitFragment(text),
    phoneForm,
    phonePrefix: Boolean(phoneDigits),
    phoneExact: Boolean(phoneExact),
  }
  const compiled = searchOf(shape)(db, ...values) as CompiledQuery<CustomerRow>
  return (await db.executeQuery(compiled)).rows
}

/**
 * The customer with its newest notes, preferences and history, in one round trip. Inside the
 * JSON, numerics are cast to text so money never passes through a float.
 */
export async function findCustomerDetail(
  db: Executor,
  businessId: number,
  customerId: number,
  notesLimit: number,
) {
  const [row] = await executeFixedPlan(
    db,
    customerDetailQuery(db, businessId, customerId, notesLimit),
  )
  if (!row) return undefined
  return {
    ...row,
    notes: row.notes.map(datesFromJson),
    preferences: row.preferences && datesFromJson(row.preferences),
    history: row.history && datesFromJson(row.history),
  }
}

const customerDetailQuery = compiledOnce(
  (db: Executor, businessId: number, customerId: number, notesLimit: number) =>
    db
      .selectFrom('customers as c')
      .selectAll('c')
      .select((eb) => [
        jsonArrayFrom(
          eb
            .selectFrom('customer_notes as n')
            .selectAll('n')
            .whereRef('n.business_id', '=', 'c.business_id')
            .whereRef('n.customer_id', '=', 'c.id')
            .orderBy('n.created_at', 'desc')
            .orderBy('n.id', 'desc')
            .limit(notesLimit),
        ).as('notes'),
        jsonObjectFrom(
          eb
            .selectFrom('customer_preferences as p')
            .select([
              'p.id',
              'p.business_id',
              'p.customer_id',
              'p.favorite_products',
              'p.preferred_payment',
              sql<string>`p.average_spend::text`.as('average_spend'),
              'p.best_contact_time',
              'p.do_not_contact',
              'p.can_receive_offers',
              'p.can_receive_loyalty',
              // The preferences answer carries the customer's version.
              sql<number>`c.version`.as('version'),
              'p.created_at',
              'p.updated_at',
            ])
            .whereRef('p.business_id', '=', 'c.business_id')
            .whereRef('p.customer_id', '=', 'c.id'),
        ).as('preferences'),
        jsonObjectFrom(
          eb
            .selectFrom('customer_purchase_history as h')
            .select([
              'h.id',
              'h.business_id',
              'h.customer_id',
              'h.total_purchases',
              sql<string>`h.total_spent::text`.as('total_spent'),
              sql<string>`h.total_items_bought::text`.as('total_items_bought'),
              sql<string>`h.avg_transaction_value::text`.as('avg_transaction_value'),
              'h.first_purchase_date',
              'h.last_purchase_date',
              'h.is_repeat_customer',
              'h.repeat_frequency',
              sql<string>`h.customer_lifetime_value::text`.as('customer_lifetime_value'),
              'h.created_at',
              'h.updated_at',
            ])
            .whereRef('h.business_id', '=', 'c.business_id')
            .whereRef('h.customer_id', '=', 'c.id'),
        ).as('history'),
      ])
      .where('c.business_id', '=', businessId)
      .where('c.id', '=', customerId),
)

const JSON_DATE_COLUMNS = [
  'created_at',
  'updated_at',
  'first_purchase_date',
  'last_purchase_date',
] as const

type JsonDateColumn = (typeof JSON_DATE_COLUMNS)[number]

/** A row nested as JSON, with its timestamp columns read back as `Date`. */
type WithDates<Row> = {
  [Key in keyof Row]: Key extends JsonDateColumn
    ? null extends Row[Key]
      ? Date | null
      : Date
    : Row[Key]
}

/** Rows nested as JSON carry timestamps as text; read them as `Date` like every other column. */
function datesFromJson<Row extends object>(row: Row): WithDates<Row> {
  const copy: Record<string, unknown> = { ...(row as Record<string, unknown>) }
  for (const column of JSON_DATE_COLUMNS) {
    const value = copy[column]
    if (typeof value === 'string') copy[column] = new Date(value)
  }
  return copy as WithDates<Row>
}
