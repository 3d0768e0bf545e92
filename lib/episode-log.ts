import type { FastifyBaseLogger } from 'fastify'

/**
 * One log line per episode instead of one per request: the first occurrence after a quiet
 * spell is logged, with how many occurrences the previous episode folded away; the rest are
 * counted. Overload and outages otherwise write thousands of identical lines a second.
 */
export function createEpisodeLog(log: FastifyBaseLogger, message: string, quietMs = 10_000) {
  let lastAt = Number.NEGATIVE_INFINITY
  let folded = 0
  return function record(context: Record<string, unknown> = {}): void {
    const now = Date.now()
    if (now - lastAt > quietMs) {
      log.warn({ ...context, folded_since_last_line: folded }, message)
      folded = 0
    } else {
      folded += 1
    }
    lastAt = now
  }
}
