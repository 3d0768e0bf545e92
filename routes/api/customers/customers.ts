import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { createCustomer } from '../../../generated/operations/createCustomer.js'
import { deleteCustomer } from '../../../generated/operations/deleteCustomer.js'
import { getCustomer } from '../../../generated/operations/getCustomer.js'
import { listCustomers } from '../../../generated/operations/listCustomers.js'
import { searchCustomers } from '../../../generated/operations/searchCustomers.js'
import { updateCustomer } from '../../../generated/operations/updateCustomer.js'
import { entityTag, versionsMatching } from '../../../lib/entity-tag.js'
import { createListCursorCodec } from '../../../lib/list-cursor.js'
import * as customers from '../../../services/customers.js'

/** Endpoints 1–6: the customer record. */
const customerRoutes: FastifyPluginAsyncTypebox = async (app) => {
  // Made once from the configuration: the signing keys stay here, out of requests and services.
  const cursors = createListCursorCodec(app.config.cursorSecrets)

  app.route({
    ...createCustomer,
    config: { idempotent: true },
    handler: async function create(request, reply) {
      const { customer, attachedSales, possibleDuplicates } = await customers.createCustomer(
        request.db,
        request.params.businessId,
        request.body,
      )
      request.attachedSales = attachedSales
      reply.code(201).header('etag', entityTag(customer.version))
      return {
        message: 'Customer created successfully' as const,
        customer,
        attached_sales: attachedSales,
        possible_duplicates: possibleDuplicates,
      }
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
    handler: async function get(request, reply) {
      const { businessId, customerId } = request.params
      const customer = await customers.getCustomer(app.db, businessId, customerId)
      reply.header('etag', entityTag(customer.version))
      return { customer }
    },
  })

  app.route({
    ...updateCustomer,
    config: { idempotent: true },
    handler: async function update(request, reply) {
      const { businessId, customerId } = request.params
      const { customer, attachedSales } = await customers.updateCustomer(
        request.db,
        businessId,
        customerId,
        request.body,
        versionsMatching(request.headers['if-match']),
      )
      request.attachedSales = attachedSales
      reply.header('etag', entityTag(customer.version))
      return {
        message: 'Customer updated successfully' as const,
        customer,
        attached_sales: attachedSales,
      }
    },
  })

  app.route({
    ...deleteCustomer,
    config: { idempotent: true },
    handler: async function remove(request, reply) {
      const { businessId, customerId } = request.params
      const customer = await customers.deleteCustomer(
        request.db,
        businessId,
        customerId,
        versionsMatching(request.headers['if-match']),
      )
      reply.header('etag', entityTag(customer.version))
      return { message: 'Customer deleted successfully' as const, customer }
    },
  })
}

export default customerRoutes
