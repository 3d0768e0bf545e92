import type { FastifyPluginAsync } from 'fastify'
import changeRoutes from './changes.js'
import consentRoutes from './consents.js'
import customerRoutes from './customers.js'
import erasureRoutes from './erasure.js'
import eventRoutes from './events.js'
import exportRoutes from './export.js'
import importRoutes from './imports.js'
import duplicateRoutes from './duplicates.js'
import listExportRoutes from './list-export.js'
import mergeRoutes from './merges.js'
import noteRoutes from './notes.js'
import preferenceRoutes from './preferences.js'
import purchaseRoutes from './purchases.js'
import webhookEndpointRoutes from './webhook-endpoints.js'

/**
 * Everything under /api/customers/{businessId} (each route's URL comes from the document): a
 * valid token is required (401) and must grant the business (403) before any route of this
 * folder runs.
 */
const customersApi: FastifyPluginAsync = async (app) => {
  app.addHook('onRequest', app.authenticate)
  app.addHook('onRequest', app.authorizeBusiness)
  await app.register(customerRoutes)
  await app.register(changeRoutes)
  await app.register(consentRoutes)
  await app.register(eventRoutes)
  await app.register(exportRoutes)
  await app.register(erasureRoutes)
  await app.register(duplicateRoutes)
  await app.register(importRoutes)
  await app.register(listExportRoutes)
  await app.register(mergeRoutes)
  await app.register(noteRoutes)
  await app.register(preferenceRoutes)
  await app.register(purchaseRoutes)
  await app.register(webhookEndpointRoutes)
}

export default customersApi
