import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { insertDefaultPreferences } from '../../../db/customer-preferences.js'
import { insertEmptyPurchaseHistory } from '../../../db/customer-purchase-history.js'
import {
  deactivateCustomer,
  findCustomerDetail,
  insertCustomer,
  listCustomers as listCustomerRows,
  searchCustomers as searchCustomerRows,
  updateCustomer as updateCustomerRow,
  type CustomerChanges,
} from '../../../db/customers.js'
import { createCustomer } from '../../../generated/operations/createCustomer.js'
import { deleteCustomer } from '../../../generated/operations/deleteCustomer.js'
import { getCustomer } from '../../../generated/operations/getCustomer.js'
import { listCustomers } from '../../../generated/operations/listCustomers.js'
import { searchCustomers } from '../../../generated/operations/searchCustomers.js'
import { updateCustomer } from '../../../generated/operations/updateCustomer.js'
import { customerNotFound, validationFailed } from '../../../lib/http-errors.js'
import { decodeCursor, encodeCursor } from '../../../lib/list-cursor.js'
import { countCustomers } from '../../../db/customer-counts.js'
import { phoneSearchDigits, toE164 } from '../../../lib/phone.js'
import {
  toCustomer,
  toNote,
  toPreferences,
  toPurchaseHistory,
} from '../../../lib/representations.js'
import { createCountryLookup, phoneFromInput } from './phone-input.js'

/** Notes embedded in a customer; the notes endpoint pages through all of them. */
export const EMBEDDED_NOTES_LIMIT = 100

const customerRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const countryOf = createCountryLookup(app.db)

  app.post('/', { schema: createCustomer }, async function create(request, reply) {
    const { businessId } = request.params
    const { phone, ...fields } = request.body
    const e164 = phone === undefined ? null : await phoneFromInput(countryOf, businessId, phone)
    const row = await app.db.transaction().execute(async (trx) => {
      const customer = await insertCustomer(trx, businessId, { ...fields, phone: e164 })
      const customerId = Number(customer.id)
      await insertDefaultPreferences(trx, businessId, customerId)
      await insertEmptyPurchaseHistory(trx, businessId, customerId)
      return customer
    })
    reply.code(201)
    return { message: 'Customer created successfully' as const, customer: toCustomer(row) }
  })

  app.get('/', { schema: listCustomers }, async function list(request) {
    const { businessId } = request.params
    const query = request.query
    const limit = query.limit ?? 20
    const offset = query.offset ?? 0
    const scope = {
      sortBy: query.sort_by ?? 'created_at',
      sortOrder: query.sort_order ?? 'desc',
      isActive: query.is_active ?? true,
      customerType: query.filter_type ?? null,
    }
    if (query.after !== undefined && offset > 0) {
      throw validationFailed([{ path: 'offset', message: 'cannot be used with after' }])
    }
    const after = query.after === undefined ? undefined : decodeCursor(query.after, scope)
    const rows = await listCustomerRows(app.db, businessId, {
      ...scope,
      customerType: query.filter_type,
      limit: limit + 1,
      offset,
      after,
    })
    // A page past the end carries no row to hold the total; only then is it read on its own.
    const total = rows[0]
      ? Number(rows[0].total)
      : await countCustomers(app.db, businessId, scope.isActive, query.filter_type)
    const page = rows.slice(0, limit)
    const last = page.at(-1)
    const next_after =
      rows.length > limit && last
        ? encodeCursor({ ...scope, key: last.sort_key, id: Number(last.id) })
        : null
    return { customers: page.map(toCustomer), total, limit, offset, next_after }
  })

  app.get('/search', { schema: searchCustomers }, async function search(request) {
    const { businessId } = request.params
    const { q, limit = 10 } = request.query
    const country = await countryOf(businessId)
    const rows = await searchCustomerRows(app.db, businessId, {
      text: q,
      phoneDigits: phoneSearchDigits(q, country),
      phoneExact: toE164(q, country),
      limit,
    })
    return { results: rows.map(toCustomer), query: q, count: rows.length }
  })

  app.get('/:customerId', { schema: getCustomer }, async function get(request) {
    const { businessId, customerId } = request.params
    const row = await findCustomerDetail(app.db, businessId, customerId, EMBEDDED_NOTES_LIMIT)
    if (!row || !row.preferences || !row.history) throw customerNotFound()
    const { notes, preferences, history, ...customer } = row
    return {
      customer: {
        ...toCustomer(customer),
        notes: notes.map(toNote),
        preferences: toPreferences(preferences),
        history: toPurchaseHistory(history),
      },
    }
  })

  app.patch('/:customerId', { schema: updateCustomer }, async function update(request) {
    const { businessId, customerId } = request.params
    const { phone, ...fields } = request.body
    const changes: CustomerChanges = { ...fields }
    if (phone === null) changes.phone = null
    else if (phone !== undefined) changes.phone = await phoneFromInput(countryOf, businessId, phone)
    const row = await updateCustomerRow(app.db, businessId, customerId, changes)
    if (!row) throw customerNotFound()
    return { message: 'Customer updated successfully' as const, customer: toCustomer(row) }
  })

  app.delete('/:customerId', { schema: deleteCustomer }, async function remove(request) {
    const { businessId, customerId } = request.params
    const row = await deactivateCustomer(app.db, businessId, customerId)
    if (!row) throw customerNotFound()
    return { message: 'Customer deleted successfully' as const, customer: toCustomer(row) }
  })
}

export default customerRoutes
