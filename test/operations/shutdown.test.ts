import { connect, type Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import pg from 'pg'
import t from 'tap'
import { authFor, build, onPostgres, testDatabase } from '../helper.js'
import { startServer } from './server-process.js'
import { createCustomerAt } from '../support/customers.js'
import { accepts } from '../support/ports.js'

const BUSINESS = 53

interface RawResponse {
  status: number
  text: string
}

/**
 * A request whose body arrives in two parts: the server is inside the request (its hooks have
 * run) and waits for the rest, as it would for a slow client on a poor mobile network.
 */
function slowRequest(port: number, method: string, path: string, body: string) {
  const socket: Socket = connect(port, '127.0.0.1')
  const bytes = Buffer.from(body)
  const head = [
    `${method} ${path} HTTP/1.1`,
    'host: 127.0.0.1',
    ...Object.entries(authFor(BUSINESS)).map(([name, value]) => `${name}: ${value}`),
    'content-type: application/json',
    `content-length: ${bytes.length}`,
    'connection: close',
    '',
    '',
  ].join('\r\n')
  socket.write(head)
  socket.write(bytes.subarray(0, 5))
  let received = ''
  let settled = false
  socket.on('data', (chunk: Buffer) => (received += chunk.toString()))
  const response = new Promise<RawResponse>((resolve, reject) => {
    socket.on('error', reject)
    const settle = () => {
      settled = true
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(received)?.[1] ?? 0), text: received })
    }
    socket.on('end', settle)
    socket.on('close', settle)
  })
  return {
    response,
    settled: () => settled,
    // Not end(): a half-closed socket would abort the request (Node's httpAllowHalfOpen).
    finish: () => socket.write(bytes.subarray(5)),
  }
}

t.test('SIGTERM: requests in flight complete, new connections are refused, exit 0', async (t) => {
  await build(t) // this file's database (and its teardown), shared with the server on PostgreSQL
  const server = await startServer(t, { SHUTDOWN_TIMEOUT_MS: '20000' })
  const customerId = await createCustomerAt(server.url, BUSINESS, { name: 'Shutdown Subject' })

  const slow = ['Amani', 'Baraka', 'Chiku'].map((name) =>
    slowRequest(server.port, 'POST', `/api/customers/${BUSINESS}`, JSON.stringify({ name })),
  )

  // On PostgreSQL, also a request held inside the database: its row is locked elsewhere.
  let held: { response: Promise<Response>; release: () => Promise<void> } | undefined
  if (onPostgres()) {
    const { target } = await testDatabase()
    if (target.kind !== 'postgres') throw new Error('expected PostgreSQL')
    const locker = new pg.Client({ connectionString: target.url })
    await locker.connect()
    t.teardown(() => locker.end())
    await locker.query('begin')
    await locker.query('select id from customers where id = $1 for update', [customerId])
    held = {
      response: fetch(`${server.url}/api/customers/${BUSINESS}/${customerId}`, {
        method: 'PATCH',
        headers: { ...authFor(BUSINESS), 'content-type': 'application/json' },
        body: JSON.stringify({ customer_type: 'vip' }),
      }),
      release: async () => {
        await locker.query('commit')
      },
    }
  }
  await sleep(500)

  server.child.kill('SIGTERM')
  let refused = false
  for (let attempt = 0; attempt < 100 && !refused; attempt += 1) {
    refused = !(await accepts(server.port))
    if (!refused) await sleep(50)
  }
  t.ok(refused, 'after SIGTERM, a new connection is refused')
  t.ok(
    slow.every((request) => !request.settled()),
    'the requests in flight are still open',
  )
  t.equal(server.child.exitCode, null, 'the process waits for them')

  for (const request of slow) request.finish()
  await held?.release()
  const responses = await Promise.all(slow.map((request) => request.response))
  responses.forEach((response, index) => {
    t.equal(response.status, 201, `slow request ${index + 1} completed: 201`)
  })
  if (held) t.equal((await held.response).status, 200, 'the request held by a row lock: 200')

  t.equal(await server.exited, 0, 'exit code 0')
  t.match(server.stdout(), /"signal":"SIGTERM".*"msg":"shutting down"/, 'logs the shutdown')
})

t.test('SIGTERM: a request that outlasts SHUTDOWN_TIMEOUT_MS does not hold the exit', async (t) => {
  await build(t)
  const server = await startServer(t, { SHUTDOWN_TIMEOUT_MS: '500' })
  const stuck = slowRequest(
    server.port,
    'POST',
    `/api/customers/${BUSINESS}`,
    JSON.stringify({ name: 'Never Finished' }),
  )
  await sleep(300)
  const started = Date.now()
  server.child.kill('SIGTERM')
  t.equal(await server.exited, 1, 'exit code 1: the shutdown was cut short')
  t.ok(Date.now() - started < 5000, 'within the bound')
  t.match(server.stdout(), /killed by timeout \(500ms\)/, 'says why')
  await stuck.response.catch(() => undefined)
})
