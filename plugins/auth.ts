import type { FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { ensureBusiness } from '../db/businesses.js'
import { accessDenied, authenticationFailed, authenticationRequired } from '../lib/http-errors.js'

export interface AuthenticatedUser {
  id: number
  businesses: number[]
}

declare module '@fastify/jwt' {
  interface FastifyJWT {
    user: AuthenticatedUser
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The user of a valid token, or undefined; verified once per request, never throws. */
    identify: (request: FastifyRequest) => Promise<AuthenticatedUser | undefined>
    /** onRequest hook: 401 unless a valid token is presented; sets `request.user`. */
    authenticate: (request: FastifyRequest) => Promise<void>
    /** onRequest hook: 403 unless the token grants the `businessId` in the path. */
    authorizeBusiness: (request: FastifyRequest) => Promise<void>
  }
}

const MAX_ID = Number.MAX_SAFE_INTEGER

function positiveId(value: unknown): number | undefined {
  const number = typeof value === 'string' && /^\d{1,16}$/.test(value) ? Number(value) : value
  return typeof number === 'number' && Number.isInteger(number) && number > 0 && number <= MAX_ID
    ? number
    : undefined
}

/** The claims we rely on, checked: `sub` an id, `businesses` an array of ids. */
function userFromClaims(claims: unknown): AuthenticatedUser | undefined {
  if (typeof claims !== 'object' || claims === null) return undefined
  const { sub, businesses } = claims as { sub?: unknown; businesses?: unknown }
  const id = positiveId(sub)
  if (id === undefined || !Array.isArray(businesses)) return undefined
  const ids = businesses.map(positiveId)
  if (ids.some((business) => business === undefined)) return undefined
  return { id, businesses: ids as number[] }
}

function presentsToken(request: FastifyRequest): boolean {
  const header = request.headers.authorization
  return (typeof header === 'string' && /^Bearer\s+\S/i.test(header)) || !!request.cookies.token
}

export default fp(
  async function authPlugin(app) {
    const knownBusinesses = new Set<number>()

    // The rate limiter keys on the user before the authentication hooks run; one check serves both.
    const identities = new WeakMap<FastifyRequest, Promise<AuthenticatedUser | undefined>>()

    // The plugin's own verifier, made once with its verify options and cache: a cached token is
    // not decoded again (request.jwtVerify() decodes every token before asking the verifier).
    async function verifiedUser(request: FastifyRequest): Promise<AuthenticatedUser | undefined> {
      if (!presentsToken(request)) return undefined
      try {
        return userFromClaims(await app.jwt.verify(app.jwt.lookupToken(request)))
      } catch {
        return undefined
      }
    }

    app.decorate('identify', function identify(request: FastifyRequest) {
      let identity = identities.get(request)
      if (!identity) {
        identity = verifiedUser(request)
        identities.set(request, identity)
      }
      return identity
    })

    app.decorate('authenticate', async function authenticate(request: FastifyRequest) {
      if (!presentsToken(request)) throw authenticationRequired()
      const user = await app.identify(request)
      if (!user) throw authenticationFailed()
      request.user = user
    })

    app.decorate('authorizeBusiness', async function authorizeBusiness(request: FastifyRequest) {
      const raw = (request.params as { businessId?: string }).businessId
      const businessId = positiveId(raw)
      // A malformed id is left to schema validation, which answers 400 naming the parameter.
      if (businessId === undefined) return
      if (!request.user.businesses.includes(businessId)) throw accessDenied()
      if (!knownBusinesses.has(businessId)) {
        await ensureBusiness(app.db, businessId)
        knownBusinesses.add(businessId)
      }
    })
  },
  { name: 'auth', dependencies: ['db', '@fastify/jwt', '@fastify/cookie'] },
)
