import { performance } from 'node:perf_hooks'

export interface LoadResult {
  requests: number
  rps: number
  p50: number
  p99: number
  errors: number
}

export function percentile(sorted: number[], fraction: number): number {
  if (sorted.length === 0) return 0
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))] ?? 0
}

/** `connections` workers run `work` back to back for `seconds`, like autocannon does over HTTP. */
export async function runLoad(
  work: (sequence: number) => Promise<unknown>,
  connections: number,
  seconds: number,
): Promise<LoadResult> {
  const latencies: number[] = []
  let sequence = 0
  let errors = 0
  const deadline = performance.now() + seconds * 1000
  const started = performance.now()
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (performance.now() < deadline) {
        const begin = performance.now()
        try {
          await work(sequence++)
        } catch {
          errors += 1
        }
        latencies.push(performance.now() - begin)
      }
    }),
  )
  const elapsed = (performance.now() - started) / 1000
  latencies.sort((a, b) => a - b)
  return {
    requests: latencies.length,
    rps: latencies.length / elapsed,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    errors,
  }
}
