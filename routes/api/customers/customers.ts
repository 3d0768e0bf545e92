import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { createCustomer } from '../../../generated/operations/createCustomer.js'
import { deleteCustomer } from '../../../generated/operations/deleteCustomer.js'
import { getCustomer } from '../../../generated/operations/getCustomer.js'
import { listCustomers } from '../../../generated/operations/listCustomers.js'
import { searchCustomers } from '../../../generated/operations/searchCustomers.js'
import { updateCustomer } from '../../../generated/operations/updateCustomer.js'
import { createListCursorCodec } from '../../../lib/list-cursor.js'
import * as customers from '../../../services/customers.js'

/** Endpoints 1–6: the customer record. */
const customerRoutes: FastifyPluginAsyncTypebox = async (app) => {
  // Made once from the configuration: the signing keys stay here, out of requests and services.
  const cursors = createListCursorCodec(app.config.cursorSecrets)

  app.route({
    ...createCustomer,
    handler: async function create(request, reply) {
      const customer = await customers.createCustomer(
        app.db,
        request.params.businessId,
        request.body,
      )
      reply.code(201)
      return { message: 'Customer created successfully' as const, customer }
    },
  })

  app.route({
    ...listCustomers,
    handler: async function list(request) {
      return customers.listCustomers(app.db, request.params.businessId, request.query, cursors)
    },
  })

  app.route({
    ...searchCustomers,
    handler: async function search(request) {
      const results = await customers.searchCustomers(
        app.db,
        request.params.businessId,
        request.query,
      )
      return { results, query: request.query.q, count: results.length }
    },
  })

  app.route({
    ...getCustomer,
    handler: async function get(request) {
      const { businessId, customerId } = request.params
      return { customer: await customers.getCustomer(app.db, businessId, customerId) }
    },
  })

  app.route({
    ...updateCustomer,
    handler: async function update(request) {
      const { businessId, customerId } = request.params
      const customer = await customers.updateCustomer(app.db, businessId, customerId, request.body)
      return { message: 'Customer updated successfully' as const, customer }
    },
  })

  app.route({
    ...deleteCustomer,
    handler: async function remove(request) {
      const { businessId, customerId } = request.params
      const customer = await customers.deleteCustomer(app.db, businessId, customerId)
      return { message: 'Customer deleted successfully' as const, customer }
    },
  })
}

export default customerRoutes
