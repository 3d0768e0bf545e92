/**
 * Who made a write and in which request: what the ledgers record beside each change (the consent
 * ledger now; the change history later). Services take it as an argument; routes build it from
 * the request with `requestContext`, jobs and scripts with `systemContext`.
 */
export interface WriteContext {
  /** `user:<sub>` for a token's user, `system` for jobs, scripts and migrations. */
  actor: string
  /** The request's id (the `x-request-id` it answered with); null outside a request. */
  requestId: string | null
}

/** The actor of a token's user: `user:<sub>`. */
export const userActor = (sub: number): string => `user:${sub}`

/** An authenticated request's context: its token's `sub` and its id. */
export const requestContext = (request: { id: string; user: { id: number } }): WriteContext => ({
  actor: userActor(request.user.id),
  requestId: request.id,
})

/** A write made by the service itself (a job, a script). */
export const systemContext: WriteContext = { actor: 'system', requestId: null }
