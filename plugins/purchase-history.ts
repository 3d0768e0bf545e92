import fp from 'fastify-plugin'
import type { SaleEvent } from '../generated/schemas/SaleEvent.js'
import { recordSaleEvent, type SaleEventOutcome } from '../services/sales-feed.js'

/** Where producers of sales events hand them in: the webhook today, in-process hooks tomorrow. */
export interface SalesHook {
  /** Applies the event through the sales-feed service; resolves once its effect is committed. */
  emit(event: SaleEvent): Promise<SaleEventOutcome>
}

declare module 'fastify' {
  interface FastifyInstance {
    salesHook: SalesHook
  }
}

/**
 * The purchase-history wiring: sales events emitted on the hook are recorded by
 * services/sales-feed.ts on the app's database. No business rule lives here.
 */
export default fp(
  async function purchaseHistoryPlugin(app) {
    const salesHook: SalesHook = { emit: (event) => recordSaleEvent(app.db, event) }
    app.decorate('salesHook', salesHook)
  },
  { name: 'purchase-history', dependencies: ['db'] },
)
