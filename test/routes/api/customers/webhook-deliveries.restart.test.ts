/**
 * A delivery cut off mid-request loses nothing: the event goes out again, with the same id. On
 * PostgreSQL the worker is a real `npm run worker` process, killed with SIGKILL while the
 * receiver holds the request, and started again. On embedded PGlite (in-process, nothing to
 * kill) the delivery loop runs here and its request is cut off by its deadline instead.
 */
import { once } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import type { Event } from '../../../../generated/schemas/Event.js'
import type { WebhookDeliveries } from '../../../../generated/schemas/WebhookDeliveries.js'
import { outboundFor } from '../../../../lib/outbound/outbound.js'
import { runDeliveries } from '../../../../services/webhook-deliveries.js'
import { authFor, build, fileDatabaseUrl, onPostgres } from '../../../helper.js'
import { startServer } from '../../../lib/outbound/servers.js'
import { loopbackOnly } from '../../../lib/outbound/stubs.js'
import { startScript } from '../../../scripts/run-script.js'
import { ageJobsOfDeadWorker } from '../../../support/dead-worker.js'

// A killed worker's loop is noticed when its heartbeat stops (test/support/dead-worker.ts).
t.setTimeout(300_000)

const BUSINESS = 4201

async function waitFor(label: string, seconds: number, ready: () => boolean | Promise<boolean>) {
  const until = Date.now() + seconds * 1000
  while (!(await ready())) {
    if (Date.now() > until) throw new Error(`${label}: not within ${seconds} s`)
    await sleep(100)
  }
}

t.test('a delivery cut off mid-request is sent again, with the same event id', async (t) => {
  const server = await build(t)
  const headers = authFor(BUSINESS)
  // The first request is held and never answered; every later one is taken.
  let held = false
  const hook = await startServer(t, (_request, response) => {
    if (!held) {
      held = true
      return
    }
    response.end('ok')
  })
  const created = await server.inject({
    method: 'POST',
    url: `/api/customers/${BUSINESS}/webhook-endpoints`,
    headers,
    payload: { url: `http://127.0.0.1:${hook.port}/hook`, events: ['customer.created'] },
  })
  t.equal(created.statusCode, 201, 'endpoint registered')
  const endpointId = created.json<{ webhook_endpoint: { id: number } }>().webhook_endpoint.id
  await server.inject({
    method: 'POST',
    url: `/api/customers/${BUSINESS}`,
    headers,
    payload: { name: 'Held Delivery' },
  })

  if (onPostgres()) {
    const env = { DATABASE_URL: fileDatabaseUrl(), LOG_LEVEL: 'warn' }
    const first = startScript('scripts/worker.ts', [], env)
    await waitFor('the first worker sends the event', 120, () => hook.received.length >= 1)
    first.kill('SIGKILL')
    await once(first, 'exit')
    // The wait until the heartbeat counts as lost passes at once (the restarted worker's
    // supervisor still has to notice it and fail the run, and the queue to retry it).
    t.equal(
      await ageJobsOfDeadWorker(server.database.db, 'deliver-webhooks'),
      1,
      'the killed worker left its run active, with a heartbeat',
    )
    const second = startScript('scripts/worker.ts', [], env)
    t.teardown(() => {
      second.kill('SIGTERM')
    })
    await waitFor('the restarted worker sends it again', 180, () => hook.received.length >= 2)
  } else {
    const stop = new AbortController()
    t.teardown(() => stop.abort())
    const loop = runDeliveries(
      server.database.db,
      {
        outbound: outboundFor('test', { connect: loopbackOnly(t) }),
        retryBaseMs: 100,
        timeoutMs: 500,
      },
      stop.signal,
      Date.now() + 60_000,
    )
    await waitFor('the loop sends it again', 60, () => hook.received.length >= 2)
    stop.abort()
    await loop
  }

  const ids = hook.received.map((request) => (JSON.parse(request.body) as Event).id)
  t.equal(ids.length, 2, 'sent twice')
  t.equal(ids[0], ids[1], 'the same event id both times')
  t.same(
    hook.received.map((request) => request.headers['payme-event-id']),
    ids.map(String),
    'and the same PayMe-Event-Id',
  )
  const log = await server.inject({
    method: 'GET',
    url: `/api/customers/${BUSINESS}/webhook-endpoints/${endpointId}/deliveries`,
    headers,
  })
  const deliveries = log.json<WebhookDeliveries>().deliveries
  t.equal(deliveries[0]?.status_code, 200, 'the last attempt was taken')
  t.equal(deliveries[0]?.event_id, ids[0], 'for that event')
})
