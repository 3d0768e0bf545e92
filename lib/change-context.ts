import { AsyncLocalStorage } from 'node:async_hooks'

/** Who is changing customers, and in which request: what the change history records. */
export interface ChangeContext {
  /** `user:<sub>`, `sales-feed` or `system`; read when a transaction begins. */
  readonly actor: string
  readonly requestId: string | null
}

const contexts = new AsyncLocalStorage<ChangeContext>()

/**
 * Runs `work` as `context`: every transaction it begins records its changes under that actor
 * and request id (db/change-context.ts). Requests enter it in plugins/change-context.ts; jobs
 * and scripts call it themselves. Without one, changes are the `system`'s.
 */
export function runAs<T>(context: ChangeContext, work: () => T): T {
  return contexts.run(context, work)
}

export function currentChangeContext(): ChangeContext | undefined {
  return contexts.getStore()
}
