import { mkdtempSync, readdirSync, readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Fastify from 'fastify'
import type { KyselyPlugin } from 'kysely'
import t from 'tap'
import app from '../../app.js'
import { signatureHeader } from '../../lib/webhook-signature.js'
import { serverOptions } from '../../server-options.js'
import {
  bearer,
  build,
  TEST_JWT_SECRET,
  TEST_WEBHOOK_SECRET,
  testConfig,
  testDatabase,
  tokenFor,
} from '../helper.js'
import { captureLogs } from '../support/logs.js'
import { startServer } from './server-process.js'

const BUSINESS = 59

interface LogLine {
  level: number
  msg?: string
  request_id?: string
  method?: string
  route?: string | null
  status_code?: number
  duration_ms?: number
  [key: string]: unknown
}

const jsonLines = (text: string): LogLine[] =>
  text
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as LogLine)

/** Which of the secrets appear in the text (an empty list is the only good answer). */
function leaks(text: string, secrets: string[]): string[] {
  return secrets.filter((secret) => text.includes(secret))
}

/** The ways a number or an address could show up: as sent, normalised, or in part. */
const PHONES = ['0712 345 678', '+254 733 111 222', '0722-000-111']
const PHONE_TRACES = [
  '712345678',
  '712 345 678',
  '733111222',
  '733 111 222',
  '722000111',
  '722-000-111',
]
const EMAILS = ['wanjiru.kamau@example.co.ke', 'otieno@example.com', 'w.kamau@example.org']
const EMAIL_TRACES = [...EMAILS, 'wanjiru.kamau', 'otieno@', 'w.kamau@']

t.test(
  'in process: one line per request, and an error line with its personal data masked',
  async (t) => {
    const logs = captureLogs()
    const real = await testDatabase()
    let failing = false
    // A database error whose text quotes the row, as PostgreSQL's unique-violation detail does.
    const quoting: KyselyPlugin = {
      transformQuery({ node }) {
        if (failing) {
          throw Object.assign(
            new Error(
              'duplicate key value: phone +254712345678, email wanjiru.kamau@example.co.ke',
            ),
            {
              code: '23505',
              detail: 'Key (business_id, phone)=(59, +254712345678) already exists.',
            },
          )
        }
        return node
      },
      async transformResult({ result }) {
        return result
      },
    }
    const fastify = Fastify(serverOptions({ logLevel: 'info', stream: logs.stream }))
    await fastify.register(app, {
      config: testConfig(),
      database: { ...real, db: real.db.withPlugin(quoting) },
    })
    await fastify.ready()
    t.teardown(() => fastify.close())

    const token = tokenFor({ sub: 7, businesses: [BUSINESS] })
    const created = await fastify.inject({
      method: 'POST',
      url: `/api/customers/${BUSINESS}`,
      headers: { ...bearer(token), 'x-request-id': 'req-create-1' },
      payload: { name: 'Wanjiru', phone: PHONES[0], email: EMAILS[0] },
    })
    t.equal(created.statusCode, 201, 'create')
    const search = await fastify.inject({
      method: 'GET',
      url: `/api/customers/${BUSINESS}/search?q=${encodeURIComponent(EMAILS[0]!)}`,
      headers: { cookie: `token=${token}` },
    })
    t.equal(search.statusCode, 200, 'search by email, cookie token')
    failing = true
    const failed = await fastify.inject({
      method: 'GET',
      url: `/api/customers/${BUSINESS}/search?q=0712345678`,
      headers: bearer(token),
    })
    failing = false
    t.equal(failed.statusCode, 500, 'a database failure is a 500')

    const lines = jsonLines(logs.text())
    const requestLines = lines.filter((line) => line.msg === 'request')
    t.equal(requestLines.length, 3, 'one request line per request, no "incoming request" line')
    t.notOk(
      lines.some((line) => /incoming request|request completed/.test(line.msg ?? '')),
      'no Fastify default request lines',
    )
    t.match(
      requestLines[0],
      {
        level: 30,
        request_id: 'req-create-1',
        method: 'POST',
        route: '/api/customers/:businessId',
        status_code: 201,
        duration_ms: Number,
      },
      'the create line: request id, method, route template, status, duration',
    )
    t.match(
      requestLines[1],
      { route: '/api/customers/:businessId/search', status_code: 200 },
      'the search line names the route, not the URL',
    )
    const errorLines = lines.filter((line) => line.level >= 50)
    t.equal(errorLines.length, 1, 'one error line, for the 500')
    t.equal(errorLines[0]?.request_id, failed.headers['x-request-id'], 'it names its request')
    t.match(
      errorLines[0],
      { err: { code: '23505', message: /\[redacted\]/ } },
      'with the error, masked',
    )
    t.same(
      leaks(logs.text(), [token, TEST_JWT_SECRET, ...PHONE_TRACES, ...EMAIL_TRACES]),
      [],
      'no leaks',
    )
  },
)

async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

t.test('end to end: stdout, combined.log and error.log of a real server', async (t) => {
  await build(t) // this file's database, which the server uses on PostgreSQL
  const logDir = mkdtempSync(join(tmpdir(), 'payme-logs-'))
  const server = await startServer(t, {
    LOG_DIR: logDir,
    LOG_LEVEL: 'trace',
    // Unreachable on purpose: the service logs an error and serves on without it.
    REDIS_URL: `redis://127.0.0.1:${await closedPort()}`,
  })

  const token = tokenFor({ sub: 11, businesses: [BUSINESS] })
  const otherToken = tokenFor({ sub: 12, businesses: [BUSINESS + 1] })
  const signatures: string[] = []
  const responses: { name: string; status: number; requestId: string; route: string | null }[] = []

  async function call(
    name: string,
    route: string | null,
    path: string,
    init: { method?: string; headers?: Record<string, string>; body?: unknown; raw?: string } = {},
  ) {
    const headers: Record<string, string> = { ...init.headers }
    let body: string | undefined = init.raw
    if (init.body !== undefined) {
      body = JSON.stringify(init.body)
      headers['content-type'] ??= 'application/json'
    }
    const response = await fetch(`${server.url}${path}`, {
      method: init.method ?? 'GET',
      headers,
      ...(body === undefined ? {} : { body }),
    })
    const text = await response.text()
    responses.push({
      name,
      status: response.status,
      requestId: response.headers.get('x-request-id') ?? '',
      route,
    })
    return { status: response.status, json: () => JSON.parse(text) as unknown }
  }

  async function webhook(name: string, event: unknown, signature?: string) {
    const body = JSON.stringify(event)
    const header = signature ?? signatureHeader(TEST_WEBHOOK_SECRET, body)
    signatures.push(header, header.split('v1=')[1] ?? header)
    return call(name, '/webhooks/sales', '/webhooks/sales', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'payme-signature': header },
      raw: body,
    })
  }

  const customers = `/api/customers/${BUSINESS}`
  const withToken = bearer(token)
  const withCookie = { cookie: `token=${token}; theme=dark` }
  const first = await call('create (bearer)', '/api/customers/:businessId', customers, {
    method: 'POST',
    headers: withToken,
    body: { name: 'Wanjiru Kamau', phone: PHONES[0], email: EMAILS[0] },
  })
  t.equal(first.status, 201, 'create (bearer)')
  const firstId = (first.json() as { customer: { id: number } }).customer.id
  const second = await call('create (cookie)', '/api/customers/:businessId', customers, {
    method: 'POST',
    headers: withCookie,
    body: { name: 'Otieno', phone: PHONES[1], email: EMAILS[1] },
  })
  t.equal(second.status, 201, 'create (cookie)')
  const one = `${customers}/${firstId}`
  const customerRoute = '/api/customers/:businessId/:customerId'
  t.equal(
    (
      await call('update', customerRoute, one, {
        method: 'PATCH',
        headers: withToken,
        body: { phone: PHONES[2], email: EMAILS[2] },
      })
    ).status,
    200,
    'update phone and email',
  )
  for (const q of ['0712345678', '+254733111222', '722 000 111', EMAILS[0]!, EMAILS[2]!]) {
    t.equal(
      (
        await call(
          `search ${q}`,
          '/api/customers/:businessId/search',
          `${customers}/search?q=${encodeURIComponent(q)}`,
          {
            headers: withCookie,
          },
        )
      ).status,
      200,
      `search ${q}`,
    )
  }
  t.equal((await call('read', customerRoute, one, { headers: withToken })).status, 200, 'read')
  t.equal(
    (
      await call('note', '/api/customers/:businessId/:customerId/notes', `${one}/notes`, {
        method: 'POST',
        headers: withToken,
        body: { note_type: 'preference', content: `Call on ${PHONES[0]} or mail ${EMAILS[0]}` },
      })
    ).status,
    201,
    'note quoting a phone and an email',
  )
  t.equal(
    (
      await call('bad email', '/api/customers/:businessId', customers, {
        method: 'POST',
        headers: withToken,
        body: { name: 'Bad', email: 'otieno@@example', phone: '0712' },
      })
    ).status,
    400,
    'validation error',
  )
  t.equal(
    (
      await call('bad token', '/api/customers/:businessId', customers, {
        headers: bearer(`${token}x`),
      })
    ).status,
    401,
    'bad token',
  )
  t.equal(
    (
      await call('wrong business', '/api/customers/:businessId', customers, {
        headers: bearer(otherToken),
      })
    ).status,
    403,
    'wrong business',
  )
  t.equal(
    (await call('unknown', customerRoute, `${customers}/987654`, { headers: withToken })).status,
    404,
    'unknown customer',
  )
  t.equal(
    (await call('unknown path', null, `/no/where/${EMAILS[1]}`, { headers: withToken })).status,
    404,
    'unknown path with an email in it',
  )

  const sale = (id: string, customerId: number) => ({
    id,
    type: 'sale.completed',
    created_at: new Date().toISOString(),
    data: {
      sale_id: `S-${id}`,
      business_id: BUSINESS,
      customer_id: customerId,
      total_amount: '2500.00',
      items_count: 3,
      payment_method: 'mpesa',
      completed_at: new Date().toISOString(),
    },
  })
  t.equal((await webhook('webhook', sale('evt_log_1', firstId))).status, 200, 'webhook processed')
  t.equal((await webhook('webhook again', sale('evt_log_1', firstId))).status, 200, 'duplicate')
  t.equal(
    (await webhook('webhook forged', sale('evt_log_2', firstId), `t=1,v1=${'ab'.repeat(32)}`))
      .status,
    401,
    'bad signature',
  )
  t.equal(
    (await webhook('webhook unknown', sale('evt_log_3', 987654))).status,
    422,
    'unknown customer',
  )

  server.child.kill('SIGTERM')
  t.equal(await server.exited, 0, 'the server stops cleanly')

  const files = readdirSync(logDir)
  const errorFile = files.find((name) => /^error\.\d{4}-\d{2}-\d{2}\.\d+\.log$/.test(name))
  const combinedFile = files.find((name) => /^combined\.\d{4}-\d{2}-\d{2}\.\d+\.log$/.test(name))
  if (!t.ok(errorFile, `error.<date>.<n>.log in LOG_DIR (${files.join(', ')})`)) return
  if (!t.ok(combinedFile, 'combined.<date>.<n>.log in LOG_DIR')) return
  const stdout = server.stdout()
  const combined = readFileSync(join(logDir, combinedFile!), 'utf8')
  const errors = readFileSync(join(logDir, errorFile!), 'utf8')

  const stdoutLines = jsonLines(stdout)
  const combinedLines = jsonLines(combined)
  t.equal(combinedLines.length, stdoutLines.length, 'combined.log has every line stdout has')
  for (const response of responses) {
    const line = combinedLines.find(
      (entry) => entry.msg === 'request' && entry.request_id === response.requestId,
    )
    if (!t.ok(line, `${response.name}: a request line`)) continue
    t.match(
      line,
      { method: String, route: response.route, status_code: response.status, duration_ms: Number },
      `${response.name}: method, route template, status, duration`,
    )
  }

  const errorLines = jsonLines(errors)
  t.ok(errorLines.length > 0, 'error.log has the error lines')
  t.ok(
    errorLines.every((line) => line.level >= 50),
    'error.log has nothing below error',
  )
  t.ok(
    errorLines.some((line) => /Redis is unreachable/.test(line.msg ?? '')),
    'the unreachable Redis is in error.log',
  )
  t.equal(
    combinedLines.filter((line) => line.level >= 50).length,
    errorLines.length,
    'and every error line is in combined.log too',
  )

  const secrets = [
    token,
    otherToken,
    TEST_JWT_SECRET,
    TEST_WEBHOOK_SECRET,
    ...signatures,
    ...PHONE_TRACES,
    ...EMAIL_TRACES,
  ]
  for (const [name, text] of [
    ['stdout', stdout],
    ['stderr', server.stderr()],
    ['combined.log', combined],
    ['error.log', errors],
  ] as const) {
    t.same(leaks(text, secrets), [], `${name}: no token, cookie, signature, phone or email`)
  }
})
