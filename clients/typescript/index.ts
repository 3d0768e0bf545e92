import createClient, { type Client, type Middleware } from 'openapi-fetch'
import type { paths } from './generated/schema.js'

export type { components, operations, paths } from './generated/schema.js'

export interface PayMeClientOptions {
  /** Where the service listens, e.g. `http://localhost:3000`. */
  baseUrl: string
  /** A JWT granting the businesses you will call; sent as `Authorization: Bearer`. */
  token?: string
  fetch?: typeof fetch
}

export type PayMeClient = Client<paths>

/** A typed client for every operation of openapi/openapi.yaml (paths, bodies, answers). */
export function createPayMeClient(options: PayMeClientOptions): PayMeClient {
  const client = createClient<paths>({
    baseUrl: options.baseUrl,
    ...(options.fetch ? { fetch: options.fetch } : {}),
  })
  const { token } = options
  if (token) {
    const bearer: Middleware = {
      onRequest({ request }) {
        request.headers.set('authorization', `Bearer ${token}`)
        return request
      },
    }
    client.use(bearer)
  }
  return client
}
