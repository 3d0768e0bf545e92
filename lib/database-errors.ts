/** Error codes meaning "the database cannot be reached now", as opposed to a bad query. */
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  '57P01', // admin_shutdown (pg_terminate_backend)
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '53300', // too_many_connections
  '08000',
  '08001',
  '08003',
  '08004',
  '08006',
])

const UNAVAILABLE_MESSAGES = [
  'Connection terminated',
  'Client has encountered a connection error',
  'Connection ended unexpectedly',
]

export function isDatabaseUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false
  const code = (error as { code?: unknown }).code
  if (typeof code === 'string' && UNAVAILABLE_CODES.has(code)) return true
  if (UNAVAILABLE_MESSAGES.some((message) => error.message.includes(message))) return true
  return error.cause !== undefined && isDatabaseUnavailable(error.cause)
}

/**
 * pg-pool's "no connection became free in time": every connection is busy (overload), which
 * is not an outage. A connection attempt that times out is "Connection terminated…" instead.
 */
export function isPoolSaturated(error: unknown): boolean {
  if (!(error instanceof Error)) return false
  if (error.message.includes('timeout exceeded when trying to connect')) return true
  return error.cause !== undefined && isPoolSaturated(error.cause)
}

/** SQLSTATE of the trigger that keeps an erased customer's row as the erasure left it. */
const ERASED_CUSTOMER_WRITE = 'PE409'

/** A write refused because the customer it changes was erased (migration 2026-12-03T1300). */
export function isErasedCustomerWrite(error: unknown): boolean {
  return error instanceof Error && (error as { code?: unknown }).code === ERASED_CUSTOMER_WRITE
}

/** deadlock_detected and serialization_failure: the transaction lost a race and may run again. */
const RETRYABLE_CODES = new Set(['40P01', '40001'])

export function isRetryableConflict(error: unknown): boolean {
  return error instanceof Error && RETRYABLE_CODES.has(String((error as { code?: unknown }).code))
}

/** A foreign key violation: the row referred to is gone (deleted meanwhile). */
export function isMissingReference(error: unknown): boolean {
  return error instanceof Error && (error as { code?: unknown }).code === '23503'
}
