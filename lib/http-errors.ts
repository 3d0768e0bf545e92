import type { ErrorDetail } from './domain-errors.js'
import { entityTag } from './entity-tag.js'

export type { ErrorDetail }

/** An error whose status, title and detail are safe to show to the client as they are. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly title: string,
    readonly detail?: string,
    readonly details?: ErrorDetail[],
    readonly headers: Record<string, string> = {},
  ) {
    super(detail ?? title)
    this.name = 'HttpError'
  }
}

/** The contract's error body: the one place it is built. */
export function errorBody(problem: HttpError, requestId: string) {
  return {
    error: problem.title,
    ...(problem.detail ? { message: problem.detail } : {}),
    ...(problem.details ? { details: problem.details } : {}),
    request_id: requestId,
  }
}

export const validationFailed = (details: ErrorDetail[]): HttpError =>
  new HttpError(400, 'Validation failed', undefined, details)

export const customerNotFound = (): HttpError => new HttpError(404, 'Customer not found')

export const authenticationRequired = (): HttpError => new HttpError(401, 'Authentication required')

export const authenticationFailed = (): HttpError =>
  new HttpError(401, 'Authentication failed', 'Invalid or expired token')

export const accessDenied = (): HttpError => new HttpError(403, 'Access denied')

export const RETRY_AFTER_SECONDS = 5

export const databaseUnavailable = (): HttpError =>
  new HttpError(
    503,
    'Service unavailable',
    'The database is unreachable; retry shortly',
    undefined,
    {
      'retry-after': String(RETRY_AFTER_SECONDS),
    },
  )

export const OVERLOAD_RETRY_AFTER_SECONDS = 2

/** Shed load: answered at once instead of queueing for seconds; not a database outage. */
export const serviceOverloaded = (): HttpError =>
  new HttpError(503, 'Service overloaded', 'The service is busy; retry shortly', undefined, {
    'retry-after': String(OVERLOAD_RETRY_AFTER_SECONDS),
  })

/** A known path asked with a method it does not have; `Allow` lists the ones it has. */
export const methodNotAllowed = (allowed: string[]): HttpError =>
  new HttpError(405, 'Method not allowed', `This path answers ${allowed.join(', ')}`, undefined, {
    allow: allowed.join(', '),
  })

/** `Accept` names none of the media types the path answers in. */
export const notAcceptable = (offered: string[]): HttpError =>
  new HttpError(406, 'Not acceptable', `This export is ${offered.join(' or ')}`)

/** If-Match named no current version; `ETag` says which one is. */
export const preconditionFailed = (currentVersion: number): HttpError =>
  new HttpError(
    412,
    'Precondition failed',
    `The customer has changed (version ${currentVersion})`,
    undefined,
    { etag: entityTag(currentVersion) },
  )

/** The first request with this Idempotency-Key has not answered yet. */
export const requestInProgress = (): HttpError =>
  new HttpError(
    409,
    'Request in progress',
    'A request with this Idempotency-Key is still running; retry shortly',
    undefined,
    { 'retry-after': '1' },
  )

/** The Idempotency-Key was used for a request with another method, path or body. */
export const idempotencyKeyReused = (): HttpError =>
  new HttpError(422, 'Idempotency key reused', 'This Idempotency-Key was used for another request')
