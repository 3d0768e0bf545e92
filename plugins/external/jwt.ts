import type { FastifyJWTOptions } from '@fastify/jwt'
import type { Config } from '../../lib/config.js'

/**
 * Verifies tokens from `Authorization: Bearer` or the `token` cookie; only the configured
 * algorithms, and `exp` is required. https://github.com/fastify/fastify-jwt
 */
export { default } from '@fastify/jwt'

export function jwtOptions(config: Config): FastifyJWTOptions {
  const verify = {
    // Tills reuse one token for hours: remember verified tokens (until they expire).
    cache: 10_000,
    // fast-jwt checks iss and aud only when present, so configured ones are also required.
    requiredClaims: [
      'exp',
      ...(config.jwtIssuer ? ['iss'] : []),
      ...(config.jwtAudience ? ['aud'] : []),
    ],
    ...(config.jwtIssuer ? { allowedIss: config.jwtIssuer } : {}),
    ...(config.jwtAudience ? { allowedAud: config.jwtAudience } : {}),
  }
  if (config.jwt.kind === 'secret') {
    return {
      secret: config.jwt.secret,
      cookie: { cookieName: 'token', signed: false },
      sign: { algorithm: 'HS256' },
      verify: { ...verify, algorithms: ['HS256'] },
    }
  }
  return {
    secret: { public: config.jwt.publicKey },
    cookie: { cookieName: 'token', signed: false },
    verify: { ...verify, algorithms: ['RS256', 'ES256'] },
  }
}
