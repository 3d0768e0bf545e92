import Fastify from 'fastify'
import t from 'tap'
import metrics, { metricsOptions } from '../../plugins/external/metrics.js'
import configPlugin from '../../plugins/config.js'
import db from '../../plugins/db.js'
import serviceMetrics from '../../plugins/service-metrics.js'
import { onPostgres, testConfig, testDatabase } from '../helper.js'
import { parseMetrics, sampleValue } from '../operations/prometheus.js'

async function bareApp() {
  const app = Fastify()
  await app.register(metrics, metricsOptions())
  await app.register(configPlugin, { config: testConfig() })
  await app.register(db, { connection: await testDatabase() })
  await app.register(serviceMetrics)
  app.get('/fails', async (_request, reply) => reply.code(502).send({ error: 'upstream' }))
  app.get('/ok', async () => ({ ok: true }))
  await app.ready()
  return app
}

t.test('the service-metrics plugin alone on a bare Fastify', async (t) => {
  const app = await bareApp()
  t.teardown(() => app.close())
  await app.inject({ method: 'GET', url: '/ok' })
  await app.inject({ method: 'GET', url: '/fails' })
  await app.inject({ method: 'GET', url: '/fails' })
  app.serviceMetrics.webhookEvents.inc({ outcome: 'processed' })

  const samples = parseMetrics(await app.metrics.client.register.metrics())
  t.equal(
    sampleValue(samples, 'http_request_errors_total', { route: '/fails', status_code: '502' }),
    2,
    'errors by route and status',
  )
  t.equal(
    sampleValue(samples, 'http_request_errors_total', { route: '/ok' }),
    undefined,
    'no error series for successes',
  )
  t.equal(sampleValue(samples, 'webhook_events_total', { outcome: 'processed' }), 1, 'webhook')
  t.equal(sampleValue(samples, 'db_pool_waiting_clients'), 0, 'pool waiting')
  t.equal(
    sampleValue(samples, 'db_pool_idle_clients') !== undefined,
    onPostgres(),
    'an idle count only where there is a pg pool',
  )
})

t.test('two apps in one process keep separate registries', async (t) => {
  const first = await bareApp()
  const second = await bareApp()
  t.teardown(() => Promise.all([first.close(), second.close()]))
  first.serviceMetrics.webhookEvents.inc({ outcome: 'ignored' })
  const seen = parseMetrics(await second.metrics.client.register.metrics())
  t.equal(
    sampleValue(seen, 'webhook_events_total', { outcome: 'ignored' }),
    undefined,
    'not shared',
  )
})
