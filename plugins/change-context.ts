import { AsyncResource } from 'node:async_hooks'
import type { FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { runAs, type ChangeContext } from '../lib/change-context.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Who this route's writes are recorded as when no user is authenticated (`sales-feed`). */
    changeActor?: string
  }
}

const scopes = new WeakMap<FastifyRequest, AsyncResource>()

/** The actor is read when a transaction begins: by then authentication has set the user. */
function contextOf(request: FastifyRequest): ChangeContext {
  return {
    get actor(): string {
      const user = request.user as { id?: number } | undefined
      if (user?.id !== undefined) return `user:${user.id}`
      return request.routeOptions.config.changeActor ?? 'system'
    },
    requestId: request.id,
  }
}

/**
 * Every request runs in its change context (lib/change-context.ts), so the change history
 * records its user and request id. As @fastify/request-context does: entered in onRequest, and
 * re-entered in preValidation, since reading the body's stream loses the async context. Our
 * own store rather than that plugin's: jobs and scripts enter the same store without a request.
 */
export default fp(
  async function changeContextPlugin(app) {
    app.addHook('onRequest', function enterChangeContext(request, _reply, done) {
      runAs(contextOf(request), () => {
        const scope = new AsyncResource('payme-change-context')
        scopes.set(request, scope)
        scope.runInAsyncScope(done, request.raw)
      })
    })
    app.addHook('preValidation', function reenterChangeContext(request, _reply, done) {
      const scope = scopes.get(request)
      if (scope) scope.runInAsyncScope(done, request.raw)
      else done()
    })
  },
  { name: 'change-context' },
)
