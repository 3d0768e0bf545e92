import { request } from 'node:http'
import { isIP } from 'node:net'
import { systemConnector, type Connector } from './connector.js'
import { describeFailure } from './describe-failure.js'
import { resolveEndpoint, type OutboundPolicy, type PinnedEndpoint } from './endpoint-url.js'

export interface PostJsonOptions {
  policy: OutboundPolicy
  headers?: Record<string, string>
  /** The whole attempt: resolving, connecting, TLS, the answer's head and its (bounded) body. */
  timeoutMs?: number
  connect?: Connector
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
 * Sends one POST of `body` (JSON already serialised: signatures cover these exact bytes) and
 * never throws: refusals, network errors and timeouts come back as `error`.
 */
export async function postJson(
  url: string,
  body: string,
  options: PostJsonOptions,
): Promise<PostResult> {
  const started = performance.now()
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
  // A timer of our own, not AbortSignal.timeout: that one is unref'd and would not keep a
  // process waiting on a hung lookup alive until the deadline.
  const timeout = new AbortController()
  const timer = setTimeout(() => timeout.abort(), timeoutMs)
  const deadline = timeout.signal
  let outcome: Omit<PostResult, 'durationMs'>
  try {
    const endpoint = await untilAborted(resolveEndpoint(url, options.policy), deadline)
    outcome = endpoint.ok
      ? {
          statusCode: await send(endpoint, body, options.headers ?? {}, options.connect, deadline),
          error: null,
        }
      : { statusCode: null, error: endpoint.reason }
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

// node:http rather than undici: pinning needs only `createConnection` with our own socket, and
// undici is not installed (the copy inside Node's fetch cannot be imported) — no new dependency.
function send(
  endpoint: PinnedEndpoint,
  body: string,
  headers: Record<string, string>,
  connect: Connector = systemConnector,
  signal: AbortSignal,
): Promise<number | null> {
  const { url, host, address } = endpoint
  const tls = url.protocol === 'https:'
  const port = url.port === '' ? (tls ? 443 : 80) : Number(url.port)
  const servername = isIP(host) === 0 ? host : undefined
  const payload = Buffer.from(body)
  return new Promise((resolve, reject) => {
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
      // No agent and no lookup: the socket goes to the address that was just checked.
      createConnection: () => connect({ host: address, port, servername, tls }),
    })
    let status: number | null | undefined
    // Once the status is known, a cut, failed or late body does not change the outcome.
    outgoing.on('error', (error) => (status === undefined ? reject(error) : resolve(status)))
    outgoing.on('response', (answer) => {
      status = answer.statusCode ?? null
      let received = 0
      answer.on('data', (chunk: Buffer) => {
        received += chunk.length
        if (received > MAX_BODY_BYTES) answer.destroy()
      })
      answer.on('error', () => resolve(status ?? null))
      answer.on('close', () => resolve(status ?? null))
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
