import type { FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import type { Executor } from '../db/executor.js'
import { idempotencyKeyReused, requestInProgress } from '../lib/http-errors.js'
import { requestFingerprint } from '../lib/request-fingerprint.js'
import {
  abandonIdempotentRequest,
  beginIdempotentRequest,
  finishIdempotentRequest,
  recordRefusal,
  type KeyScope,
  type RequestFingerprint,
  type RequestTransaction,
  type StoredAnswer,
} from '../services/idempotency.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** true: the route takes an `Idempotency-Key` (plugins/idempotency.ts). */
    idempotent?: boolean
  }
  interface FastifyRequest {
    /**
     * Where the handler's work goes: for a request with an `Idempotency-Key`, the transaction
     * its answer is stored in; else the database.
     */
    db: Executor
  }
}

const KEY_HEADER = 'idempotency-key'

/** Headers that belong to an answer and are replayed with it. */
const REPLAYED_HEADERS = ['etag', 'location'] as const

/**
 * Refusals kept as a key's answer: they changed nothing and a retry would be refused alike.
 * 400, 401, 403, 409, 413, 415, 429 and 5xx are not kept (a retry runs again).
 */
const KEPT_REFUSALS = new Set([404, 412, 422])

const isSuccess = (status: number): boolean => status >= 200 && status < 300

interface Pending {
  scope: KeyScope
  fingerprint: RequestFingerprint
  transaction: RequestTransaction
}

function scopeOf(request: FastifyRequest, key: string): KeyScope {
  const { businessId } = request.params as { businessId?: unknown }
  const userSub = (request.user as { id?: unknown } | undefined)?.id
  if (typeof businessId !== 'number' || typeof userSub !== 'number') {
    throw new Error(
      `${request.routeOptions.url ?? 'route'}: idempotent routes need a business and a user`,
    )
  }
  return { businessId, userSub, key }
}

function bodyOf(payload: unknown): unknown {
  if (typeof payload === 'string') return JSON.parse(payload) as unknown
  if (Buffer.isBuffer(payload)) return JSON.parse(payload.toString('utf8')) as unknown
  return null
}

function answerOf(reply: FastifyReply, payload: unknown): StoredAnswer {
  const headers: Record<string, string> = {}
  for (const name of REPLAYED_HEADERS) {
    const value = reply.getHeader(name)
    if (typeof value === 'string') headers[name] = value
  }
  return { status: reply.statusCode, body: bodyOf(payload), headers }
}

/**
 * Idempotency-Key for the routes that opt in with `config: { idempotent: true }`. Before the
 * handler, the key is claimed in a new transaction (services/idempotency.ts), which the handler
 * works in through `request.db`; when the answer is ready it is stored in that transaction
 * and committed with the effect, or the transaction is rolled back. A repeat gets the stored
 * answer with `Idempotent-Replayed: true`; a key in use, 409; a key used for another request,
 * 422. Expired keys are purged by the job queue's `purge-idempotency-keys` job (jobs/).
 */
export default fp(
  async function idempotencyPlugin(app) {
    const pending = new WeakMap<FastifyRequest, Pending>()

    app.decorateRequest('db', {
      getter(this: FastifyRequest): Executor {
        return pending.get(this)?.transaction ?? app.db
      },
    })

    app.addHook('preHandler', async function claimIdempotencyKey(request, reply) {
      if (request.routeOptions.config.idempotent !== true) return
      const key = request.headers[KEY_HEADER]
      if (typeof key !== 'string') return
      const scope = scopeOf(request, key)
      const fingerprint = requestFingerprint(request.method, request.url, request.body)
      const claim = await beginIdempotentRequest(app.db, scope, fingerprint)
      switch (claim.outcome) {
        case 'run':
          pending.set(request, { scope, fingerprint, transaction: claim.transaction })
          return
        case 'replay':
          reply
            .code(claim.answer.status)
            .headers({ ...claim.answer.headers, 'idempotent-replayed': 'true' })
            .send(claim.answer.body)
          return reply
        case 'in_progress':
          throw requestInProgress()
        case 'reused':
          throw idempotencyKeyReused()
      }
    })

    app.addHook('onSend', async function storeIdempotentAnswer(request, reply, payload) {
      const work = pending.get(request)
      if (!work) return payload
      pending.delete(request)
      if (isSuccess(reply.statusCode)) {
        try {
          await finishIdempotentRequest(work.transaction, work.scope, answerOf(reply, payload))
        } catch (error) {
          // Not committed (or not known to be): the error answer must not look like a success.
          for (const name of REPLAYED_HEADERS) reply.removeHeader(name)
          throw error
        }
        return payload
      }
      await abandonIdempotentRequest(work.transaction)
      if (KEPT_REFUSALS.has(reply.statusCode)) {
        await recordRefusal(app.db, work.scope, work.fingerprint, answerOf(reply, payload))
      }
      return payload
    })

    // A request that ended without reaching onSend must not leave its transaction open.
    app.addHook('onResponse', async function closeIdempotentTransaction(request) {
      const work = pending.get(request)
      if (!work) return
      pending.delete(request)
      await abandonIdempotentRequest(work.transaction)
    })
  },
  { name: 'idempotency', dependencies: ['db', 'auth', 'errors'] },
)
