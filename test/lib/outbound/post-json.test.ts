import { connect as tlsConnect } from 'node:tls'
import t, { type Test } from 'tap'
import { ConnectionPool } from '../../../lib/outbound/connection-pool.js'
import {
  checkEndpointUrl,
  type OutboundPolicy,
  type PinnedEndpoint,
} from '../../../lib/outbound/endpoint-url.js'
import { pinEndpoint, postJson, postPinned } from '../../../lib/outbound/post-json.js'
import type { Resolver } from '../../../lib/outbound/resolver.js'
import { closedPort, selfSignedCertificate, startServer, startSilentServer } from './servers.js'
import {
  guardedConnector,
  loopbackAliases,
  namesResolver,
  PUBLIC_ADDRESS,
  refusingConnector,
  stubResolver,
} from './stubs.js'

const BODY = JSON.stringify({ id: 'evt_1', type: 'customer.created', data: { name: 'Wanjiru' } })

const development = (resolve: Resolver): OutboundPolicy => ({ requirePublicHttps: false, resolve })

// Fails the test if anything is looked up: for URLs whose host is an IP literal.
const noLookups =
  (t: Test): Resolver =>
  async (hostname) => {
    t.fail(`looked up ${hostname}`)
    throw new Error('no lookups expected')
  }

t.test('development: posts the body and headers to the pinned address', async (t) => {
  const server = await startServer(t, (_request, response) => response.writeHead(204).end())
  // The second answer would send the request elsewhere: only the first, checked one may be used.
  const resolve = stubResolver({ 'hook.test': [['127.0.0.1'], ['192.0.2.99']] })
  const connect = guardedConnector(
    t,
    { host: '127.0.0.1', port: server.port, servername: 'hook.test', tls: false },
    server.port,
  )
  const result = await postJson(`http://hook.test:${server.port}/deliveries?attempt=1#frag`, BODY, {
    policy: development(resolve),
    headers: { 'PayMe-Signature': 't=1,v1=abc', 'Content-Type': 'text/plain', Host: 'evil.test' },
    connect,
  })
  t.match(result, { statusCode: 204, error: null }, 'answered')
  t.type(result.durationMs, 'number')
  t.ok(result.durationMs >= 0 && result.durationMs < 5000, 'a duration in ms')
  t.same(resolve.calls, ['hook.test'], 'one lookup')
  t.equal(connect.calls.length, 1, 'one connection')
  t.equal(server.received.length, 1, 'one request')
  const [request] = server.received
  t.equal(request!.method, 'POST')
  t.equal(request!.url, '/deliveries?attempt=1', 'path and query, no fragment')
  t.equal(request!.body, BODY, 'the exact bytes')
  t.match(request!.headers, {
    host: `hook.test:${server.port}`,
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(BODY)),
    'payme-signature': 't=1,v1=abc',
    connection: 'close',
  })
})

t.test('the system connector reaches an IP literal URL on 127.0.0.1', async (t) => {
  const server = await startServer(t, (_request, response) => response.writeHead(200).end('ok'))
  const result = await postJson(`http://127.0.0.1:${server.port}/hook`, BODY, {
    policy: development(noLookups(t)),
  })
  t.match(result, { statusCode: 200, error: null })
  t.equal(server.received[0]?.headers.host, `127.0.0.1:${server.port}`)
})

t.test('an error status is a status, not an error', async (t) => {
  const server = await startServer(t, (_request, response) => response.writeHead(500).end('boom'))
  const result = await postJson(`http://127.0.0.1:${server.port}/hook`, BODY, {
    policy: development(noLookups(t)),
    connect: guardedConnector(t, { host: '127.0.0.1' }, server.port),
  })
  t.match(result, { statusCode: 500, error: null })
})

t.test('a redirect is not followed', async (t) => {
  const server = await startServer(t, (_request, response) =>
    response.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data' }).end(),
  )
  const result = await postJson(`http://127.0.0.1:${server.port}/hook`, BODY, {
    policy: development(noLookups(t)),
    connect: guardedConnector(t, { host: '127.0.0.1' }, server.port),
  })
  t.match(result, { statusCode: 302, error: null })
  t.equal(server.received.length, 1)
})

t.test('a large answer is cut after a little of it was read', async (t) => {
  const server = await startServer(t, (_request, response) => {
    response.writeHead(200, { 'content-type': 'text/plain' })
    const chunk = 'x'.repeat(64 * 1024)
    const write = (left: number): void => {
      if (left === 0 || response.destroyed) return void response.end()
      response.write(chunk, () => write(left - 1))
    }
    write(10_000)
  })
  const result = await postJson(`http://127.0.0.1:${server.port}/hook`, BODY, {
    policy: development(noLookups(t)),
    connect: guardedConnector(t, { host: '127.0.0.1' }, server.port),
    timeoutMs: 5000,
  })
  t.match(result, { statusCode: 200, error: null })
  t.ok(result.durationMs < 4000, `not read to the end (${result.durationMs} ms)`)
})

t.test('a server that never answers times out', async (t) => {
  const server = await startSilentServer(t)
  const result = await postJson(`http://127.0.0.1:${server.port}/hook`, BODY, {
    policy: development(noLookups(t)),
    connect: guardedConnector(t, { host: '127.0.0.1' }, server.port),
    timeoutMs: 300,
  })
  t.match(result, { statusCode: null, error: 'timed out after 300 ms' })
  t.ok(result.durationMs >= 250 && result.durationMs < 3000, `${result.durationMs} ms`)
})

t.test('a body that never ends after the status keeps the status', async (t) => {
  const server = await startServer(t, (_request, response) => {
    response.writeHead(200)
    response.write('partial')
  })
  const result = await postJson(`http://127.0.0.1:${server.port}/hook`, BODY, {
    policy: development(noLookups(t)),
    connect: guardedConnector(t, { host: '127.0.0.1' }, server.port),
    timeoutMs: 300,
  })
  t.match(result, { statusCode: 200, error: null })
})

t.test('a lookup that never ends times out without connecting', async (t) => {
  const result = await postJson('http://slow.test/hook', BODY, {
    policy: development(() => new Promise<string[]>(() => undefined)),
    connect: refusingConnector(t),
    timeoutMs: 200,
  })
  t.match(result, { statusCode: null, error: 'timed out after 200 ms' })
})

t.test('a refused connection is an error', async (t) => {
  const port = await closedPort()
  const result = await postJson(`http://127.0.0.1:${port}/hook`, BODY, {
    policy: development(noLookups(t)),
    connect: guardedConnector(t, { host: '127.0.0.1' }, port),
  })
  t.match(result, { statusCode: null, error: 'connection refused' })
})

t.test('production: refused URLs are errors and nothing is connected', async (t) => {
  const cases: [string, string][] = [
    ['http://public.example/hook', 'must use https'],
    ['https://127.0.0.1/hook', 'must be a public IP address'],
    ['https://10.0.0.1/hook', 'must be a public IP address'],
    ['https://[::1]/hook', 'must be a public IP address'],
    ['https://[::ffff:127.0.0.1]/hook', 'must be a public IP address'],
    ['https://169.254.169.254/latest/meta-data', 'must be a public IP address'],
    ['https://localhost/hook', 'must not point to localhost'],
    ['https://internal.example/hook', 'host name must resolve only to public addresses'],
    ['https://nowhere.example/hook', 'host name does not resolve'],
    ['https://user:pass@public.example/hook', 'must not contain a user name or password'],
  ]
  for (const [url, error] of cases) {
    const result = await postJson(url, BODY, {
      policy: { requirePublicHttps: true, resolve: namesResolver() },
      connect: refusingConnector(t),
    })
    t.match(result, { statusCode: null, error }, url)
  }
})

t.test('production: a name rebound to a private address after registration', async (t) => {
  const policy: OutboundPolicy = { requirePublicHttps: true, resolve: namesResolver() }
  t.equal(await checkEndpointUrl('https://rebind.example/hook', policy), undefined, 'registered')
  const result = await postJson('https://rebind.example/hook', BODY, {
    policy,
    connect: refusingConnector(t),
  })
  t.match(result, { statusCode: null, error: 'host name must resolve only to public addresses' })
})

const certificate = selfSignedCertificate('public.example')

t.test(
  'production: https to a public name goes to the checked address with SNI and Host the name',
  { skip: certificate ? false : 'no openssl command to make a certificate' },
  async (t) => {
    const tls = certificate!
    const server = await startServer(t, (_request, response) => response.writeHead(202).end(), tls)
    const resolve = stubResolver({
      'public.example': [[PUBLIC_ADDRESS], ['10.0.0.1']],
      'other.example': [[PUBLIC_ADDRESS]],
    })
    // Asked for the checked public address, it connects to the local TLS server instead.
    const toLocalTls = (port: number, options: { servername?: string }) =>
      tlsConnect({ host: '127.0.0.1', port, servername: options.servername, ca: tls.cert })
    const policy: OutboundPolicy = { requirePublicHttps: true, resolve }

    const connect = guardedConnector(
      t,
      { host: PUBLIC_ADDRESS, port: 443, servername: 'public.example', tls: true },
      server.port,
      toLocalTls,
    )
    const result = await postJson('https://public.example/hook', BODY, { policy, connect })
    t.match(result, { statusCode: 202, error: null })
    t.same(resolve.calls, ['public.example'], 'one lookup')
    t.match(server.received[0], { servername: 'public.example', body: BODY })
    t.equal(server.received[0]?.headers.host, 'public.example')

    const otherName = guardedConnector(
      t,
      { host: PUBLIC_ADDRESS, servername: 'other.example' },
      server.port,
      toLocalTls,
    )
    const mismatch = await postJson('https://other.example/hook', BODY, {
      policy,
      connect: otherName,
    })
    t.match(mismatch, {
      statusCode: null,
      error: 'TLS certificate does not match the host name',
    })
    t.equal(server.received.length, 1, 'nothing sent over the unverified connection')
  },
)

/** The pinned endpoint of `url`, failing the test when the check refuses it. */
async function pinned(t: Test, url: string, policy: OutboundPolicy): Promise<PinnedEndpoint> {
  const endpoint = await pinEndpoint(url, policy)
  if (!('ok' in endpoint)) {
    t.fail(`refused: ${endpoint.error}`)
    throw new Error('refused')
  }
  return endpoint
}

const connectionsOf = (received: { remotePort: number | undefined }[]) =>
  received.map((request) => request.remotePort)

t.test('a pool sends the posts to one checked address over one kept connection', async (t) => {
  const server = await startServer(t, (_request, response) => response.writeHead(200).end('ok'))
  const connect = loopbackAliases(t, server.port)
  const pool = new ConnectionPool(connect)
  t.teardown(() => pool.close())
  const resolve = stubResolver({ 'hook.test': [['127.0.0.1']] })
  const endpoint = await pinned(t, `http://hook.test:${server.port}/hook`, development(resolve))
  for (let post = 1; post <= 3; post += 1) {
    const result = await postPinned(endpoint, BODY, { pool })
    t.match(result, { statusCode: 200, error: null }, `post ${post} answered`)
  }
  t.same(resolve.calls, ['hook.test'], 'checked once')
  t.same(
    connect.calls.map((call) => call.host),
    ['127.0.0.1'],
    'one connection, to the checked address',
  )
  const [first] = connectionsOf(server.received)
  t.same(connectionsOf(server.received), [first, first, first], 'all three over it')
  t.equal(server.received[0]?.headers.connection, 'keep-alive', 'kept open')
  t.equal(server.received[0]?.headers.host, `hook.test:${server.port}`, 'Host is the name')
})

t.test('a pool never reuses a connection for another address the name resolves to', async (t) => {
  const server = await startServer(t, (_request, response) => response.writeHead(200).end('ok'))
  const connect = loopbackAliases(t, server.port)
  const pool = new ConnectionPool(connect)
  t.teardown(() => pool.close())
  // Each round checks the name again: it moves to another address, then back.
  const resolve = stubResolver({ 'hook.test': [['127.0.0.1'], ['127.0.0.2'], ['127.0.0.1']] })
  const url = `http://hook.test:${server.port}/hook`
  const policy = development(resolve)
  for (const round of [1, 2, 3]) {
    const endpoint = await pinned(t, url, policy)
    t.match(await postPinned(endpoint, BODY, { pool }), { statusCode: 200 }, `round ${round}`)
  }
  t.same(
    connect.calls.map((call) => call.host),
    ['127.0.0.1', '127.0.0.2'],
    'a new connection for the new address, none for the old one again',
  )
  const [first, second, third] = connectionsOf(server.received)
  t.not(second, first, 'the second address got its own connection')
  t.equal(third, first, 'back at the first address, its own connection again')
})

/** A pool connecting through loopback aliases, and the server's endpoint pinned for it. */
async function pooledEndpoint(t: Test, port: number) {
  const connect = loopbackAliases(t, port)
  const pool = new ConnectionPool(connect)
  t.teardown(() => pool.close())
  const endpoint = await pinned(t, `http://127.0.0.1:${port}/hook`, development(noLookups(t)))
  return { connect, pool, endpoint }
}

t.test('a kept connection dropped under a request: sent again, once, on a new one', async (t) => {
  let requests = 0
  const server = await startServer(t, (request, response) => {
    requests += 1
    // The second request finds its connection closed by the receiver, unanswered.
    if (requests === 2) return void request.socket.destroy()
    response.writeHead(200).end('ok')
  })
  const { connect, pool, endpoint } = await pooledEndpoint(t, server.port)
  t.match(await postPinned(endpoint, BODY, { pool }), { statusCode: 200 }, 'first post')
  t.match(await postPinned(endpoint, BODY, { pool }), { statusCode: 200, error: null }, 'second')
  t.equal(connect.calls.length, 2, 'a second connection')
  const [first, dropped, again] = connectionsOf(server.received)
  t.equal(dropped, first, 'the second post went out on the kept connection')
  t.not(again, first, 'and again on a new one')
  t.equal(server.received.length, 3, 'nothing more')
})

t.test('a pool: a post that fails on a new connection is not sent again', async (t) => {
  const server = await startServer(t, (request) => void request.socket.destroy())
  const { pool, endpoint } = await pooledEndpoint(t, server.port)
  const result = await postPinned(endpoint, BODY, { pool })
  t.match(result, { statusCode: null, error: 'connection closed before an answer' })
  t.equal(server.received.length, 1, 'sent once')
})

t.test('production: pinEndpoint refuses a name rebound to a private address', async (t) => {
  const policy: OutboundPolicy = { requirePublicHttps: true, resolve: namesResolver() }
  t.equal(await checkEndpointUrl('https://rebind.example/hook', policy), undefined, 'registered')
  const result = await pinEndpoint('https://rebind.example/hook', policy)
  t.match(result, {
    statusCode: null,
    error: 'host name must resolve only to public addresses',
  })
  t.notOk('ok' in result, 'no address to post to')
})

t.test('pinEndpoint: a lookup that never ends times out', async (t) => {
  const result = await pinEndpoint(
    'http://slow.test/hook',
    development(() => new Promise<string[]>(() => undefined)),
    200,
  )
  t.match(result, { statusCode: null, error: 'timed out after 200 ms' })
})
