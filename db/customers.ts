import { sql, type Insertable, type Selectable, type Updateable } from 'kysely'
import type { CustomersTable, CustomerType } from './database.js'
import type { Executor } from './executor.js'

export type CustomerRow = Selectable<CustomersTable>
export type NewCustomer = Omit<Insertable<CustomersTable>, 'business_id'>
export type CustomerChanges = Omit<Updateable<CustomersTable>, 'id' | 'business_id' | 'created_at'>

export async function insertCustomer(
  db: Executor,
  businessId: number,
  customer: NewCustomer,
): Promise<CustomerRow> {
  return db
    .insertInto('customers')
    .values({ ...customer, business_id: businessId })
    .returningAll()
    .executeTakeFirstOrThrow()
}

export async function findCustomer(
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

export async function updateCustomer(
  db: Executor,
  businessId: number,
  customerId: number,
  changes: CustomerChanges,
): Promise<CustomerRow | undefined> {
  return db
    .updateTable('customers')
    .set({ ...changes, updated_at: sql`now()` })
    .where('business_id', '=', businessId)
    .where('id', '=', customerId)
    .returningAll()
    .executeTakeFirst()
}

/** Soft delete; a second delete changes nothing, not even updated_at. */
export async function deactivateCustomer(
  db: Executor,
  businessId: number,
  customerId: number,
): Promise<CustomerRow | undefined> {
  return db
    .updateTable('customers')
    .set({
      is_active: false,
      updated_at: sql`case when is_active then now() else updated_at end`,
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
}

export async function listCustomers(
  db: Executor,
  businessId: number,
  query: ListCustomersQuery,
): Promise<{ rows: CustomerRow[]; total: number }> {
  let filtered = db
    .selectFrom('customers')
    .where('business_id', '=', businessId)
    .where('is_active', '=', query.isActive)
  if (query.customerType) filtered = filtered.where('customer_type', '=', query.customerType)

  const sortKey = query.sortBy === 'name' ? sql`lower(name)` : sql.ref(query.sortBy)
  const direction = query.sortOrder === 'asc' ? sql`asc` : sql`desc`
  const [rows, count] = await Promise.all([
    filtered
      .selectAll()
      .orderBy(sql`${sortKey} ${direction}`)
      .orderBy(sql`id ${direction}`)
      .limit(query.limit)
      .offset(query.offset)
      .execute(),
    filtered
      .select((eb) => eb.fn.countAll<string | number>().as('total'))
      .executeTakeFirstOrThrow(),
  ])
  return { rows, total: Number(count.total) }
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

/** Active customers whose name, email or phone contains the query; exact, then prefix, then substring. */
export async function searchCustomers(
  db: Executor,
  businessId: number,
  query: SearchCustomersQuery,
): Promise<CustomerRow[]> {
  const needle = escapeLike(query.text)
  const contains = sql`'%' || lower(${needle}) || '%'`
  const startsWith = sql`lower(${needle}) || '%'`
  const exact = sql`lower(${query.text})`
  const phoneDigits = query.phoneDigits ? escapeLike(query.phoneDigits) : null
  const phoneContains = phoneDigits ? sql`phone like '%' || ${phoneDigits} || '%'` : sql`false`
  const phoneStartsWith = phoneDigits ? sql`phone like '+' || ${phoneDigits} || '%'` : sql`false`
  const phoneExact = query.phoneExact ? sql`phone = ${query.phoneExact}` : sql`false`

  return db
    .selectFrom('customers')
    .selectAll()
    .where('business_id', '=', businessId)
    .where('is_active', '=', true)
    .where(
      sql<boolean>`(lower(name) like ${contains} escape '\\'
        or lower(email) like ${contains} escape '\\'
        or phone like ${contains} escape '\\'
        or ${phoneContains})`,
    )
    .orderBy(
      sql`case
        when lower(name) = ${exact} or lower(email) = ${exact} or ${phoneExact} then 0
        when lower(name) like ${startsWith} escape '\\' or lower(email) like ${startsWith} escape '\\'
          or ${phoneStartsWith} then 1
        else 2 end`,
    )
    .orderBy(sql`lower(name)`)
    .orderBy('id')
    .limit(query.limit)
    .execute()
}
