/**
 * `/health` and `/ready` on a port of their own (PROBE_PORT), answered by a worker thread
 * (lib/probe-worker.ts), like a Kubernetes management port: under a burst of connections the
 * service's event loop is busy accepting and answering them, and a probe on the main port waits
 * its turn. The main thread's side: it starts the thread, writes a heartbeat into shared memory
 * every 100 ms (the thread's /health fails once it is older than `stallMs`), and says whether
 * the database is open (what /ready reports on embedded PostgreSQL, which lives in this thread).
 */
import { Worker } from 'node:worker_threads'
import { PortUnavailable, portUnavailable } from './port-check.js'

/** How often the main thread writes its heartbeat. */
export const HEARTBEAT_INTERVAL_MS = 100
/** A heartbeat older than this: the main thread is stuck, /health answers 503. */
export const DEFAULT_STALL_MS = 5000
/** Longest wait for the thread to close its server and its database connection. */
const CLOSE_TIMEOUT_MS = 3000

/** What the thread is started with (`workerData`). */
export interface ProbeWorkerData {
  host: string
  port: number
  databaseUrl?: string
  stallMs: number
  /** Bytes 0–7: the heartbeat (process.hrtime.bigint()); bytes 8–11: 1 while the database is open. */
  shared: SharedArrayBuffer
}

export type ToProbeWorker = { type: 'close' }

export type FromProbeWorker =
  | { type: 'listening'; port: number }
  | { type: 'listen-failed'; code: string | undefined }
  | { type: 'closed' }

/** Where the thread's failures are told (the service's pino logger fits). */
export interface ProbeLog {
  error(details: Record<string, unknown>, message: string): void
}

export interface ProbeServerOptions {
  host: string
  /** 0: any free port (the one taken is `port` of the result). */
  port: number
  /** PostgreSQL: the thread pings it on one connection of its own. Unset: embedded PostgreSQL. */
  databaseUrl?: string
  /** Heartbeat age past which /health (and /ready) answer 503; 5 s unless given. */
  stallMs?: number
  log?: ProbeLog
}

export interface ProbeServer {
  /** The port the thread listens on. */
  port: number
  /** Whether the service's database is open: /ready answers 503 until true, and after false. */
  setDatabaseOpen(open: boolean): void
  /** Stops the heartbeat, closes the thread's server and database connection, ends the thread. */
  close(): Promise<void>
  /** The thread (a test ends it to see the failure logged and the service go on). */
  worker: Worker
}

// Built, the thread runs the compiled file. Under tsx (development, tests) it runs the TypeScript
// file, which Node 20 does not load in a worker: tsx registers its hooks in the main thread only
// (so `execArgv: ['--import', 'tsx']` does nothing there), hence a bootstrap that registers them
// in the thread through tsx's API, then imports the file.
const FROM_SOURCE = import.meta.url.endsWith('.ts')

function createWorker(workerData: ProbeWorkerData): Worker {
  if (!FROM_SOURCE) return new Worker(new URL('./probe-worker.js', import.meta.url), { workerData })
  const tsx = JSON.stringify(import.meta.resolve('tsx/esm/api'))
  const file = JSON.stringify(new URL('./probe-worker.ts', import.meta.url).href)
  const bootstrap = `import(${tsx}).then((tsx) => { tsx.register(); return import(${file}) })`
  return new Worker(bootstrap, { eval: true, workerData, execArgv: [] })
}

/** An error of the thread as a log shows it: never the database URL or its password. */
export function describeFailure(error: unknown, databaseUrl?: string): Record<string, unknown> {
  const secrets: string[] = []
  if (databaseUrl) {
    secrets.push(databaseUrl)
    try {
      const password = new URL(databaseUrl).password
      if (password) secrets.push(password, decodeURIComponent(password))
    } catch {
      // not a URL the WHATWG parser takes: the whole string is still hidden
    }
  }
  const hide = (text: string): string =>
    secrets.reduce((hidden, secret) => hidden.split(secret).join('[redacted]'), text)
  if (!(error instanceof Error)) return { message: hide(String(error)) }
  return {
    type: error.name,
    message: hide(error.message),
    ...(typeof (error as NodeJS.ErrnoException).code === 'string'
      ? { code: (error as NodeJS.ErrnoException).code }
      : {}),
    ...(error.stack ? { stack: hide(error.stack) } : {}),
  }
}

const silent: ProbeLog = { error: () => {} }

/**
 * Starts the probe server's thread and resolves once it listens; a port that cannot be listened
 * on rejects with PortUnavailable naming PROBE_PORT. A thread that fails later is logged and
 * left down: the service goes on, and the failing /health on PROBE_PORT tells the platform.
 */
export async function startProbeServer(options: ProbeServerOptions): Promise<ProbeServer> {
  const { host, databaseUrl, log = silent } = options
  const shared = new SharedArrayBuffer(16)
  const heartbeat = new BigInt64Array(shared, 0, 1)
  const flags = new Int32Array(shared, 8, 1)
  const beat = (): void => {
    Atomics.store(heartbeat, 0, process.hrtime.bigint())
  }
  beat()

  const data: ProbeWorkerData = {
    host,
    port: options.port,
    databaseUrl,
    stallMs: options.stallMs ?? DEFAULT_STALL_MS,
    shared,
  }
  const worker = createWorker(data)
  let ended = false
  // Not events.once: it would reject on the thread's 'error', which is logged below instead.
  const exited = new Promise<number>((resolve) =>
    worker.once('exit', (code: number) => {
      ended = true
      resolve(code)
    }),
  )

  let port: number
  try {
    port = await new Promise<number>((resolve, reject) => {
      worker.on('message', function untilListening(message: FromProbeWorker) {
        if (message.type === 'listening') resolve(message.port)
        if (message.type === 'listen-failed') {
          reject(portUnavailable(message.code, host, options.port, 'PROBE_PORT'))
        }
      })
      worker.once('error', reject)
      void exited.then((code) =>
        reject(new Error(`the probe server's thread ended (exit code ${code}) before listening`)),
      )
    })
  } catch (error) {
    await worker.terminate()
    if (error instanceof PortUnavailable) throw error
    // The cause as a log may show it, never the error itself: it could carry the database URL.
    const cause = describeFailure(error, databaseUrl)
    // eslint-disable-next-line preserve-caught-error -- the cause is the caught error, described
    throw new Error(`The probe server could not start: ${String(cause.message)}`, { cause })
  }
  worker.removeAllListeners('message')
  worker.removeAllListeners('error')

  let closing: Promise<void> | undefined
  let failed = false
  worker.on('error', (error) => {
    failed = true
    log.error(
      { err: describeFailure(error, databaseUrl) },
      'The probe server failed: /health and /ready on PROBE_PORT no longer answer',
    )
  })
  void exited.then((code) => {
    if (!closing && !failed) {
      log.error(
        { exit_code: code },
        'The probe server stopped: /health and /ready on PROBE_PORT no longer answer',
      )
    }
  })

  const heartbeatTimer = setInterval(beat, HEARTBEAT_INTERVAL_MS)
  // The heartbeat never keeps the process alive by itself.
  heartbeatTimer.unref()

  async function shutDown(): Promise<void> {
    clearInterval(heartbeatTimer)
    if (ended) return
    const closed = new Promise<void>((resolve) => {
      worker.on('message', (message: FromProbeWorker) => {
        if (message.type === 'closed') resolve()
      })
    })
    worker.postMessage({ type: 'close' } satisfies ToProbeWorker)
    let timer: NodeJS.Timeout | undefined
    await Promise.race([
      closed,
      exited,
      new Promise((resolve) => (timer = setTimeout(resolve, CLOSE_TIMEOUT_MS))),
    ])
    clearTimeout(timer)
    await worker.terminate()
  }

  return {
    port,
    worker,
    setDatabaseOpen(open) {
      Atomics.store(flags, 0, open ? 1 : 0)
    },
    close() {
      closing ??= shutDown()
      return closing
    },
  }
}
