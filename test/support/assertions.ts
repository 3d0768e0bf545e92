import type { LightMyRequestResponse } from 'fastify'
import type { Test } from 'tap'
import type { ApiError } from '../../generated/schemas/ApiError.js'

/** A 400 `Validation failed` whose details name `path`, carrying the request id; returns the body. */
export function assertValidationFailed(
  t: Test,
  res: LightMyRequestResponse,
  path: string,
  label: string,
): ApiError {
  t.equal(res.statusCode, 400, `${label}: status`)
  const body = res.json<ApiError>()
  t.equal(body.error, 'Validation failed', `${label}: error`)
  t.ok(
    body.details?.some((detail) => detail.path === path),
    `${label}: details name ${path} (got ${JSON.stringify(body.details)})`,
  )
  t.equal(body.request_id, res.headers['x-request-id'], `${label}: request_id is x-request-id`)
  return body
}

/** None of `held` (an erased person's values) appears anywhere in the events' JSON. */
export function assertEventsHoldNone(t: Test, events: unknown[], held: string[]): void {
  const text = JSON.stringify(events)
  for (const value of held) t.notOk(text.includes(value), `no event holds "${value}"`)
}
