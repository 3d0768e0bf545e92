import type { AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { createServer } from 'node:http'
import {
  receiveEvents,
  type Listener,
  signatureIsValid,
  type CustomerEvent,
} from '../../docs/examples/webhook-receiver.js'
import { signatureHeader } from '../../lib/webhook-signature.js'
import { authFor, build } from '../helper.js'

const SECRET_SAMPLE = 'whsec_sample-secret-for-the-signature-check'

t.test("the README's receiver verifies what the service signs, and nothing else", async (t) => {
  const body = Buffer.from('{"id":1,"type":"customer.created"}')
  const header = signatureHeader(SECRET_SAMPLE, body.toString())
  t.ok(signatureIsValid(header, body, SECRET_SAMPLE), "the service's signature verifies")
  t.notOk(signatureIsValid(header, body, 'whsec_another'), 'not with another secret')
  t.notOk(signatureIsValid(header, Buffer.from('{"id":2}'), SECRET_SAMPLE), 'not another body')
  const stale = signatureHeader(SECRET_SAMPLE, body.toString(), Math.floor(Date.now() / 1000) - 301)
  t.notOk(signatureIsValid(stale, body, SECRET_SAMPLE), 'not a timestamp 301 s old')
  t.notOk(signatureIsValid(undefined, body, SECRET_SAMPLE), 'not without a header')
})

t.test('the receiver takes what the service delivers, each event once', async (t) => {
  const server = await build(t, { config: { workers: true, webhookRetryBaseMs: 200 } })
  const business = 4301
  const headers = authFor(business)
  const handled: CustomerEvent[] = []
  let listener: Listener = (_request, response) => response.writeHead(503).end()
  // Listening first: the secret exists once the endpoint is registered with this port.
  const http = createServer((request, response) => listener(request, response))
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    http.closeAllConnections()
    http.close()
  })
  const { port } = http.address() as AddressInfo
  const registered = await server.inject({
    method: 'POST',
    url: `/api/customers/${business}/webhook-endpoints`,
    headers,
    payload: { url: `http://127.0.0.1:${port}/payme`, events: ['customer.created'] },
  })
  const { secret } = registered.json<{ webhook_endpoint: { secret: string } }>().webhook_endpoint
  listener = receiveEvents(secret, (event) => {
    handled.push(event)
  })
  await server.inject({
    method: 'POST',
    url: `/api/customers/${business}`,
    headers,
    payload: { name: 'Received Customer' },
  })
  const deadline = Date.now() + 30_000
  while (handled.length === 0 && Date.now() < deadline) await sleep(50)
  t.same(
    handled.map((event) => [event.type, event.data.name]),
    [['customer.created', 'Received Customer']],
    'the receiver verified and handled the event',
  )
})
