import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { DeliveryOutcome } from '../lib/outbound/outbound.js'
import { connectionOf } from './db.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The service's own Prometheus series, beside fastify-metrics' request histogram. */
    serviceMetrics: ReturnType<typeof createServiceMetrics>
  }
  interface FastifyRequest {
    /**
     * Unattributed sales this request's write attached to a customer; counted once the answer
     * is a success, so a write whose transaction is rolled back afterwards counts nothing.
     */
    attachedSales: number
  }
}

export type WebhookOutcome =
  'processed' | 'unattributed' | 'duplicate' | 'ignored' | 'rejected' | 'failed'

function createServiceMetrics(app: FastifyInstance) {
  const client = app.metrics.client
  const registers = [client.register]
  const pool = connectionOf(app.db).pool

  const errors = new client.Counter({
    name: 'http_request_errors_total',
    help: 'Responses with a 4xx or 5xx status, by method, route template and status',
    labelNames: ['method', 'route', 'status_code'],
    registers,
  })
  const webhookEvents = new client.Counter({
    name: 'webhook_events_total',
    help: 'Sales webhook deliveries by outcome: processed, unattributed, duplicate, ignored, rejected (4xx), failed (5xx)',
    labelNames: ['outcome'],
    registers,
  })
  const saleAttributions = new client.Counter({
    name: 'sale_attributions_total',
    help: 'Sales events with a payer and no customer named: processed (matched_by phone or phone_sha256) or unattributed (kept until a customer has the phone)',
    labelNames: ['outcome', 'matched_by'],
    registers,
  })
  const salesAttached = new client.Counter({
    name: 'sales_attached_total',
    help: "Unattributed sales attached to a customer who got the payer's phone (create, update, reactivation)",
    registers,
  })
  // Embedded PostgreSQL has one in-process connection and no pool: 1 client, nobody waiting.
  new client.Gauge({
    name: 'db_pool_clients',
    help: 'Database connections open (pg pool total)',
    registers,
    collect() {
      this.set(pool ? pool.totalCount : 1)
    },
  })
  new client.Gauge({
    name: 'db_pool_waiting_clients',
    help: 'Queries waiting for a free pool connection',
    registers,
    collect() {
      this.set(pool ? pool.waitingCount : 0)
    },
  })
  if (pool) {
    new client.Gauge({
      name: 'db_pool_idle_clients',
      help: 'Pool connections open and idle',
      registers,
      collect() {
        this.set(pool.idleCount)
      },
    })
  }
  const loadShed = new client.Counter({
    name: 'load_shed_total',
    help: 'Requests answered 503 Service overloaded at once, by reason: event_loop_delay, heap_used, database_queue, pool_wait',
    labelNames: ['reason'],
    registers,
  })
  const customersExported = new client.Counter({
    name: 'customers_exported_total',
    help: 'Customers read for GET /export, by format (csv, ndjson), counted a batch at a time as it is read',
    labelNames: ['format'],
    registers,
  })
  const deliveries = new client.Counter({
    name: 'webhook_deliveries_total',
    help: 'Attempts to deliver events to webhook endpoints, by outcome: delivered (2xx), failed (retried later), given_up (after 72 hours of failures)',
    labelNames: ['outcome'],
    registers,
  })
  const deliveryLag = new client.Histogram({
    name: 'webhook_delivery_lag_seconds',
    help: "Seconds from the start of an event's transaction to its delivery (2xx) to an endpoint",
    buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 3600],
    registers,
  })
  function observeDelivery(outcome: DeliveryOutcome, lagSeconds: number): void {
    deliveries.inc({ outcome })
    if (outcome === 'delivered') deliveryLag.observe(lagSeconds)
  }
  return {
    errors,
    webhookEvents,
    saleAttributions,
    salesAttached,
    loadShed,
    customersExported,
    observeDelivery,
  }
}

/** Error counts, webhook outcomes and the database pool, in the registry GET /metrics serves. */
export default fp(
  async function serviceMetricsPlugin(app) {
    const metrics = createServiceMetrics(app)
    app.decorate('serviceMetrics', metrics)
    app.decorateRequest('attachedSales', 0)
    app.addHook('onResponse', async function countAttachedSales(request, reply) {
      if (request.attachedSales > 0 && reply.statusCode < 300) {
        metrics.salesAttached.inc(request.attachedSales)
      }
    })
    app.addHook('onResponse', async function countErrors(request, reply) {
      if (reply.statusCode < 400) return
      metrics.errors.inc({
        method: request.method,
        route: request.routeOptions.url ?? 'unmatched',
        status_code: reply.statusCode,
      })
    })
  },
  { name: 'service-metrics', dependencies: ['fastify-metrics', 'db'] },
)
