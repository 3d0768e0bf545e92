/**
 * The overload scenario: 2,000 connections at once on `GET /{customerId}` against the service as
 * production runs it, with `/health` and `/ready` probed throughout on the probe port
 * (PROBE_PORT, answered by a worker thread), and the main port's `/health` beside them for
 * information. The bounds it is held to (issue 11): every answer 200 or 503 "Service
 * overloaded" with Retry-After, none "database unreachable", the probe port's `/health` within
 * 100 ms and `/ready` within 1 s.
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { Agent, request } from 'node:http'
import { fileURLToPath } from 'node:url'
import type { OverloadAnswer } from './overload-client.js'

export const OVERLOAD_CONNECTIONS = 2000
export const HEALTH_BOUND_MS = 100
export const READY_BOUND_MS = 1000

export interface OverloadResult {
  connections: number
  served: number
  shed: number
  /** Answers other than 200 and 503 "Service overloaded", connection errors included. */
  other: number
  /** Answers saying the database is unreachable (must be none). */
  unreachable: number
  p50: number
  p99: number
  longest: number
  /** The probe port's /health and /ready: held to the bounds. */
  health: ProbeSummary
  ready: ProbeSummary
  /** The main port's /health, probed beside them: for information, no bound. */
  mainHealth: ProbeSummary
  withinBounds: boolean
}

export interface ProbeSummary {
  rounds: number
  p99: number
  longest: number
  non200: number
}

export const quantile = (values: number[], q: number): number => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0
}

const round = (ms: number): number => Math.round(ms * 10) / 10

function probe(agent: Agent, url: string): Promise<{ status: number; ms: number }> {
  const started = performance.now()
  return new Promise((resolve) => {
    const req = request(url, { agent, timeout: 30_000 }, (res) => {
      res.resume()
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - started }))
    })
    req.on('timeout', () => req.destroy(new Error('no answer in 30 s')))
    req.on('error', () => resolve({ status: 0, ms: performance.now() - started }))
    req.end()
  })
}

function summary(samples: { status: number; ms: number }[]): ProbeSummary {
  const ms = samples.map((sample) => sample.ms)
  return {
    rounds: samples.length,
    p99: round(quantile(ms, 0.99)),
    longest: round(Math.max(0, ...ms)),
    non200: samples.filter((sample) => sample.status !== 200).length,
  }
}

/** `connections` requests at once to `url`, each on its own connection, from another process. */
export async function fireBurst(
  url: string,
  connections: number,
  authorization: string,
): Promise<OverloadAnswer[]> {
  const client = spawn(
    process.execPath,
    [
      '--import=tsx',
      fileURLToPath(new URL('./overload-client.ts', import.meta.url)),
      url,
      String(connections),
      authorization,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  )
  let output = ''
  client.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')))
  await once(client, 'exit')
  return JSON.parse(output) as OverloadAnswer[]
}

/**
 * `baseUrl`: the service (PORT); `probeUrl`: its probe port (PROBE_PORT). Each probe has a
 * kept-alive connection of its own, as a kubelet's would be.
 */
export async function runOverload(
  baseUrl: string,
  probeUrl: string,
  path: string,
  authorization: string,
  connections = OVERLOAD_CONNECTIONS,
): Promise<OverloadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: 2 })
  const health: { status: number; ms: number }[] = []
  const ready: { status: number; ms: number }[] = []
  const mainHealth: { status: number; ms: number }[] = []
  let loading = true
  const probing = (async () => {
    while (loading) {
      const [h, r, m] = await Promise.all([
        probe(agent, `${probeUrl}/health`),
        probe(agent, `${probeUrl}/ready`),
        probe(agent, `${baseUrl}/health`),
      ])
      health.push(h)
      ready.push(r)
      mainHealth.push(m)
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  })()
  const answers = await fireBurst(`${baseUrl}${path}`, connections, authorization)
  loading = false
  await probing
  agent.destroy()

  const isShed = (answer: OverloadAnswer): boolean =>
    answer.status === 503 &&
    answer.error === 'Service overloaded' &&
    /^[1-9]\d*$/.test(answer.retryAfter ?? '')
  const served = answers.filter((answer) => answer.status === 200).length
  const shed = answers.filter(isShed).length
  const latencies = answers.map((answer) => answer.ms)
  const result: OverloadResult = {
    connections,
    served,
    shed,
    other: answers.length - served - shed + (connections - answers.length),
    unreachable: answers.filter((answer) => answer.error === 'Service unavailable').length,
    p50: round(quantile(latencies, 0.5)),
    p99: round(quantile(latencies, 0.99)),
    longest: round(Math.max(0, ...latencies)),
    health: summary(health),
    ready: summary(ready),
    mainHealth: summary(mainHealth),
    withinBounds: false,
  }
  result.withinBounds =
    result.other === 0 &&
    result.unreachable === 0 &&
    result.health.non200 === 0 &&
    result.ready.non200 === 0 &&
    result.health.longest <= HEALTH_BOUND_MS &&
    result.ready.longest <= READY_BOUND_MS
  return result
}

export function renderOverload(result: OverloadResult): string {
  const main = result.mainHealth
  const share = ((100 * result.shed) / result.connections).toFixed(1)
  return [
    `## Overload: ${result.connections.toLocaleString('en')} connections at once on get customer`,
    '',
    '| answers 200 | 503 overloaded (share) | other | database unreachable | p50 ms | p99 ms | longest ms | probe port /health p99 / longest ms | probe port /ready p99 / longest ms | bounds |',
    '|---|---|---|---|---|---|---|---|---|---|',
    `| ${result.served} | ${result.shed} (${share} %) | ${result.other} | ${result.unreachable} | ${result.p50} | ${result.p99} | ${result.longest} | ${result.health.p99} / ${result.health.longest} (${result.health.rounds} probes) | ${result.ready.p99} / ${result.ready.longest} (${result.ready.rounds} probes) | ${result.withinBounds ? 'met' : 'NOT met'} (every answer 200 or 503 overloaded; /health ≤ ${HEALTH_BOUND_MS} ms, /ready ≤ ${READY_BOUND_MS} ms, on the probe port) |`,
    '',
    `For information, the main port's /health throughout: p99 ${main.p99} ms, longest ${main.longest} ms (${main.rounds} probes, ${main.non200} not 200).`,
    '',
  ].join('\n')
}
