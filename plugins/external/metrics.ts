import fastifyMetrics, { type IMetricsPluginOptions } from 'fastify-metrics'
import client from 'prom-client'

/**
 * Prometheus request count and latency histogram by route template and status, and the
 * process metrics; served by GET /metrics (routes/operations.ts). https://github.com/SkeLLLa/fastify-metrics
 */
// CommonJS that exports the plugin as `default`, not as the module itself.
export default fastifyMetrics.default

/** Latency buckets in seconds, with an edge at the 200 ms objective. */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2.5, 5, 10]

export function metricsOptions(): Partial<IMetricsPluginOptions> {
  // One registry per app, not prom-client's global one: a process may hold several apps
  // (tests), and every metric of this app, ours included, lives in this one registry.
  const registry = new client.Registry()
  return {
    promClient: { ...client, register: registry },
    endpoint: null,
    defaultMetrics: { enabled: true, register: registry },
    routeMetrics: {
      enabled: { histogram: true, summary: false },
      registeredRoutesOnly: false,
      invalidRouteGroup: 'unmatched',
      overrides: {
        histogram: { registers: [registry], buckets: LATENCY_BUCKETS },
        // Made even when disabled: it must not land in the global registry.
        summary: { registers: [registry] },
      },
    },
  }
}
