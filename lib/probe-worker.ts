/**
 * The probe server's thread, started by lib/probe-server.ts: plain node:http answering
 * `GET /health` and `GET /ready` on PROBE_PORT. It never waits in the queue of the service's
 * event loop, which under a burst of connections is busy accepting and answering them. What it
 * knows of the main thread comes through shared memory: the heartbeat the main thread writes
 * every 100 ms, and whether the service's database is open. On PostgreSQL it asks the database
 * itself, on one connection of its own. No Fastify here: the thread stays small.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { parentPort, workerData } from 'node:worker_threads'
import type pg from 'pg'
import {
  databaseUnavailable,
  errorBody,
  HttpError,
  methodNotAllowed,
  RETRY_AFTER_SECONDS,
} from './http-errors.js'
import type { ProbeWorkerData, ToProbeWorker, FromProbeWorker } from './probe-server.js'
import { requestIdOf } from './request-id.js'

/** `select 1` must answer within this (the main port's /ready gives the database as long). */
const READY_TIMEOUT_MS = 1000
/** Longest wait for `end()` of a broken connection before a new one may be opened. */
const END_TIMEOUT_MS = 1000

const METHODS = ['GET', 'HEAD']

const data = workerData as ProbeWorkerData
const heartbeat = new BigInt64Array(data.shared, 0, 1)
const flags = new Int32Array(data.shared, 8, 1)
const port = parentPort
if (!port) throw new Error('lib/probe-worker.ts runs as a worker thread (lib/probe-server.ts)')

const post = (message: FromProbeWorker): void => port.postMessage(message)

/** Milliseconds since the main thread's last heartbeat (process.hrtime: one clock per process). */
const heartbeatAge = (): number =>
  Number(process.hrtime.bigint() - Atomics.load(heartbeat, 0)) / 1e6

const stalled = (): HttpError =>
  new HttpError(
    503,
    'Service unavailable',
    'The service is not responding; retry shortly',
    undefined,
    { 'retry-after': String(RETRY_AFTER_SECONDS) },
  )

const sleep = (milliseconds: number): Promise<false> =>
  new Promise((resolve) => setTimeout(() => resolve(false), milliseconds))

/**
 * One pg connection, opened on first need and again after any failure; never two at once: a
 * ping in flight is shared by every /ready that arrives meanwhile, and a new connection is only
 * opened once the broken one has been ended.
 */
class DatabasePing {
  #client: pg.Client | undefined
  #inFlight: Promise<boolean> | undefined
  #closed = false

  constructor(
    private readonly driver: typeof pg,
    private readonly url: string,
  ) {}

  /** true when the database answered `select 1` within READY_TIMEOUT_MS. */
  async ready(): Promise<boolean> {
    if (this.#closed) return false
    this.#inFlight ??= this.#attempt().finally(() => (this.#inFlight = undefined))
    // The attempt itself is bounded by the connect and query timeouts; the answer by this.
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), READY_TIMEOUT_MS)
    })
    try {
      return await Promise.race([this.#inFlight, late])
    } finally {
      clearTimeout(timer)
    }
  }

  async #attempt(): Promise<boolean> {
    // A connection kept from before may have died unnoticed (a restart, a failover): once it
    // fails, one fresh connection gets the chance to answer before /ready says 503.
    const kept = this.#client !== undefined
    if (await this.#select()) return true
    return kept && !this.#closed && (await this.#select())
  }

  async #select(): Promise<boolean> {
    try {
      const client = this.#client ?? (await this.#connect())
      await client.query('select 1')
      return true
    } catch {
      await this.#drop()
      return false
    }
  }

  async #connect(): Promise<pg.Client> {
    const client = new this.driver.Client({
      connectionString: this.url,
      connectionTimeoutMillis: READY_TIMEOUT_MS,
      query_timeout: READY_TIMEOUT_MS,
      statement_timeout: READY_TIMEOUT_MS,
      application_name: 'payme-customers-probe',
    })
    // A backend that dies while idle (restart, failover): dropped, the next ping reconnects.
    client.on('error', () => {
      if (this.#client === client) void this.#drop()
    })
    client.on('end', () => {
      if (this.#client === client) this.#client = undefined
    })
    this.#client = client
    await client.connect()
    if (this.#closed) throw new Error('closed')
    return client
  }

  async #drop(): Promise<void> {
    const client = this.#client
    this.#client = undefined
    if (client) await Promise.race([client.end().catch(() => {}), sleep(END_TIMEOUT_MS)])
  }

  async close(): Promise<void> {
    this.#closed = true
    await this.#inFlight
    await this.#drop()
  }
}

const driver = data.databaseUrl ? (await import('pg')).default : undefined
const database = driver && data.databaseUrl ? new DatabasePing(driver, data.databaseUrl) : undefined
// A first connection now, so that the first /ready does not wait for it.
void database?.ready()

function send(
  request: IncomingMessage,
  response: ServerResponse,
  requestId: string,
  statusCode: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body)
  response.writeHead(statusCode, {
    ...headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(text)),
    'x-request-id': requestId,
  })
  response.end(request.method === 'HEAD' ? undefined : text)
}

function sendError(
  request: IncomingMessage,
  response: ServerResponse,
  requestId: string,
  problem: HttpError,
): void {
  send(request, response, requestId, problem.statusCode, errorBody(problem, requestId), {
    ...problem.headers,
  })
}

const OK = { status: 'ok' } as const

/** /ready: the main thread runs, its database is open, and on PostgreSQL the database answers. */
async function readiness(): Promise<HttpError | undefined> {
  if (heartbeatAge() > data.stallMs) return stalled()
  if (Atomics.load(flags, 0) !== 1) return databaseUnavailable()
  if (database && !(await database.ready())) return databaseUnavailable()
  return undefined
}

async function answer(request: IncomingMessage, response: ServerResponse): Promise<void> {
  // A body (a POST to a probe) is read and dropped; the answer does not depend on it.
  request.resume()
  const requestId = requestIdOf(request)
  const path = ((request.url ?? '/').split('?', 1)[0] ?? '/').replace(/(.)\/$/, '$1')
  if (path !== '/health' && path !== '/ready') {
    return sendError(request, response, requestId, new HttpError(404, 'Not found'))
  }
  if (!METHODS.includes(request.method ?? '')) {
    return sendError(request, response, requestId, methodNotAllowed(METHODS))
  }
  const problem =
    path === '/health' ? (heartbeatAge() > data.stallMs ? stalled() : undefined) : await readiness()
  if (problem) return sendError(request, response, requestId, problem)
  send(request, response, requestId, 200, OK)
}

const server = createServer((request, response) => {
  answer(request, response).catch(() => {
    if (!response.headersSent) {
      sendError(
        request,
        response,
        requestIdOf(request),
        new HttpError(500, 'Internal server error'),
      )
    } else response.destroy()
  })
})

server.once('error', (error: NodeJS.ErrnoException) => {
  post({ type: 'listen-failed', code: error.code })
  void database?.close()
})

server.listen({ host: data.host, port: data.port }, () => {
  const address = server.address()
  post({ type: 'listening', port: typeof address === 'object' && address ? address.port : 0 })
})

port.on('message', (message: ToProbeWorker) => {
  if (message.type !== 'close') return
  server.close()
  server.closeAllConnections()
  void (database?.close() ?? Promise.resolve()).finally(() => post({ type: 'closed' }))
})
