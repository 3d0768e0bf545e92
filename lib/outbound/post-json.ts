import { request } from 'node:http'
import { isIP } from 'node:net'
import type { ConnectionPool } from './connection-pool.js'
import { systemConnector, type ConnectOptions, type Connector } from './connector.js'
import { describeFailure } from './describe-failure.js'
import { resolveEndpoint, type OutboundPolicy, type PinnedEndpoint } from './endpoint-url.js'

export interface SendOptions {
  headers?: Record<string, string>
  /** The whole attempt: resolving (postJson), connecting, TLS, the answer's head and its (bounded) body. */
  timeoutMs?: number
  /** Opens connections when there is no pool (one per post, closed after it). */
  connect?: Connector
  /** Keeps connections to the checked address open between posts (the pool's own connector). */
  pool?: ConnectionPool
}

export interface PostJsonOptions extends SendOptions {
  policy: OutboundPolicy
}

export interface PostResult {
  /** The answer's status, 3xx included (redirects are not followed); null when none came. */
  statusCode: number | null
  error: string | null
  durationMs: number
}

export const DEFAULT_TIMEOUT_MS = 10_000
// The body is never used; reading a little lets a small answer finish cleanly, a big one is cut.
const MAX_BODY_BYTES = 64 * 1024

/**
 * Checks `url` (resolving it) and sends one POST of `body` (JSON already serialised: signatures
 * cover these exact bytes) to the checked address. Never throws: refusals, network errors and
 * timeouts come back as `error`.
 */
export function postJson(url: string, body: string, options: PostJsonOptions): Promise<PostResult> {
  return attempt(options.timeoutMs, async (deadline) => {
    const endpoint = await untilAborted(resolveEndpoint(url, options.policy), deadline)
    if (!endpoint.ok) return { statusCode: null, error: endpoint.reason }
    return { statusCode: await send(endpoint, body, options, deadline), error: null }
  })
}

/**
 * The send-time check of `url` alone, within the time limit: the address to post to (for a
 * round of posts with postPinned; DNS can change, so it is checked again for the next round), or
 * the failed attempt a post would have been.
 */
export async function pinEndpoint(
  url: string,
  policy: OutboundPolicy,
  timeoutMs?: number,
): Promise<PinnedEndpoint | PostResult> {
  let pinned: PinnedEndpoint | undefined
  const failed = await attempt(timeoutMs, async (deadline) => {
    const endpoint = await untilAborted(resolveEndpoint(url, policy), deadline)
    if (!endpoint.ok) return { statusCode: null, error: endpoint.reason }
    pinned = endpoint
    return { statusCode: null, error: null }
  })
  return pinned ?? failed
}

/** One POST of `body` to an endpoint pinEndpoint checked; never throws, as postJson. */
export function postPinned(
  endpoint: PinnedEndpoint,
  body: string,
  options: SendOptions,
): Promise<PostResult> {
  return attempt(options.timeoutMs, async (deadline) => ({
    statusCode: await send(endpoint, body, options, deadline),
    error: null,
  }))
}

/** Runs `work` under the deadline and turns what it throws into the attempt's `error`. */
async function attempt(
  timeoutMs: number = DEFAULT_TIMEOUT_MS,
  work: (deadline: AbortSignal) => Promise<Omit<PostResult, 'durationMs'>>,
): Promise<PostResult> {
  const started = performance.now()
  // A timer of our own, not AbortSignal.timeout: that one is unref'd and would not keep a
  // process waiting on a hung lookup alive until the deadline.
  const timeout = new AbortController()
  const timer = setTimeout(() => timeout.abort(), timeoutMs)
  const deadline = timeout.signal
  let outcome: Omit<PostResult, 'durationMs'>
  try {
    outcome = await work(deadline)
  } catch (error) {
    outcome = {
      statusCode: null,
      error: deadline.aborted ? `timed out after ${timeoutMs} ms` : describeFailure(error),
    }
  } finally {
    clearTimeout(timer)
  }
  return { ...outcome, durationMs: Math.round(performance.now() - started) }
}

// A kept connection the receiver closed just as the request went out: sent again, once, on a
// new one (Node's documented remedy; the event carries its id, so a rare duplicate is harmless).
const STALE_CONNECTION_CODES = new Set(['ECONNRESET', 'EPIPE'])

async function send(
  endpoint: PinnedEndpoint,
  body: string,
  options: SendOptions,
  signal: AbortSignal,
): Promise<number | null> {
  let answer = await sendOnce(endpoint, body, options, signal)
  if ('error' in answer && answer.reused && isStaleConnection(answer.error) && !signal.aborted)
    answer = await sendOnce(endpoint, body, options, signal)
  if ('error' in answer) throw answer.error
  return answer.status
}

function isStaleConnection(error: unknown): boolean {
  const code = typeof error === 'object' && error !== null && 'code' in error ? error.code : null
  return typeof code === 'string' && STALE_CONNECTION_CODES.has(code)
}

/** The answer's status, or why none came and whether it was on a kept connection. */
type Answer = { status: number | null } | { error: unknown; reused: boolean }

// node:http rather than undici: pinning needs only our own sockets (createConnection, or an
// agent making them) and undici is not installed (the copy inside Node's fetch cannot be
// imported) — no new dependency.
function sendOnce(
  endpoint: PinnedEndpoint,
  body: string,
  { headers = {}, connect = systemConnector, pool }: SendOptions,
  signal: AbortSignal,
): Promise<Answer> {
  const { url, host, address } = endpoint
  const tls = url.protocol === 'https:'
  const target: ConnectOptions = {
    host: address,
    port: url.port === '' ? (tls ? 443 : 80) : Number(url.port),
    servername: isIP(host) === 0 ? host : undefined,
    tls,
  }
  const payload = Buffer.from(body)
  return new Promise((resolve) => {
    const outgoing = request({
      method: 'POST',
      path: `${url.pathname}${url.search}`,
      headers: {
        ...headers,
        host: url.host,
        'content-type': 'application/json',
        'content-length': payload.length,
      },
      signal,
      // No lookup either way: the socket goes to the address that was just checked, a new one
      // for this request or one the pool keeps for exactly that address. (Not `agent: false`:
      // node:http would then make an agent of its own and connect by the URL's host.)
      ...(pool ? { agent: pool.agentFor(target) } : { createConnection: () => connect(target) }),
    })
    let status: number | null | undefined
    // Once the status is known, a cut, failed or late body does not change the outcome.
    outgoing.on('error', (error) =>
      resolve(status === undefined ? { error, reused: outgoing.reusedSocket } : { status }),
    )
    outgoing.on('response', (answer) => {
      status = answer.statusCode ?? null
      let received = 0
      answer.on('data', (chunk: Buffer) => {
        received += chunk.length
        if (received > MAX_BODY_BYTES) answer.destroy()
      })
      answer.on('error', () => resolve({ status: status ?? null }))
      answer.on('close', () => resolve({ status: status ?? null }))
    })
    outgoing.end(payload)
  })
}

function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason)
    if (signal.aborted) return onAbort()
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort))
  })
}
