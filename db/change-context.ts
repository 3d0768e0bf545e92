import type { PGlite } from '@electric-sql/pglite'
import pg from 'pg'
import { currentChangeContext, type ChangeContext } from '../lib/change-context.js'

/**
 * The change history's triggers (migration 2026-12-03T1200-change-history) read the actor and
 * request id from transaction-local settings. Every transaction Kysely begins ('begin') sets
 * them from the current change context, so no write path can forget them and none repeats
 * them.
 */
const BEGIN = 'begin'

const settingsOf = (context: ChangeContext) => [context.actor, context.requestId ?? '']
const SET_CONTEXT =
  "select set_config('payme.actor', $1, true), set_config('payme.request_id', $2, true)"

/**
 * On PostgreSQL, the settings travel with the BEGIN in one simple-protocol round trip (escaped
 * by pg), so a transaction costs no extra statement; the answer is BEGIN's.
 */
export function beginWithChangeContext(client: pg.PoolClient): void {
  const send = client.query.bind(client) as (...args: unknown[]) => unknown
  const query = (...args: unknown[]): unknown => {
    const [text, values, callback] = args
    const context = currentChangeContext()
    if (text !== BEGIN || context === undefined || callback !== undefined) return send(...args)
    if (Array.isArray(values) && values.length > 0) return send(...args)
    const [actor, requestId] = settingsOf(context).map((value) => pg.escapeLiteral(value))
    const combined = `begin; select set_config('payme.actor', ${actor}, true), set_config('payme.request_id', ${requestId}, true)`
    return (send(combined, []) as Promise<pg.QueryResult[]>).then((results) => results[0])
  }
  client.query = query as typeof client.query
}

/** On embedded PGlite (in-process, no round trip to save), a second statement after BEGIN. */
export function beginWithChangeContextEmbedded(pglite: PGlite): void {
  const send = pglite.query.bind(pglite)
  pglite.query = (async (text: string, ...rest: unknown[]) => {
    const result = await send(text, ...(rest as []))
    const context = currentChangeContext()
    if (text === BEGIN && context !== undefined) await send(SET_CONTEXT, settingsOf(context))
    return result
  }) as typeof pglite.query
}
