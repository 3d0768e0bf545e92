import { createSigner } from 'fast-jwt'
import type { Config } from '../lib/config.js'

/**
 * A development token for `businesses` (`npm run token`, `npm run import`), valid `hours`:
 * signed with JWT_SECRET or the development secret the service keeps in DATA_DIR. Undefined
 * when the service checks tokens with a public key (they come from the auth service then).
 */
export function developmentToken(
  config: Config,
  claims: { sub: number; businesses: number[] },
  hours = 1,
): string | undefined {
  if (config.jwt.kind !== 'secret') return undefined
  const sign = createSigner({
    key: config.jwt.secret,
    algorithm: 'HS256',
    expiresIn: hours * 3600 * 1000,
    ...(config.jwtIssuer ? { iss: config.jwtIssuer } : {}),
    ...(config.jwtAudience ? { aud: config.jwtAudience } : {}),
  })
  return sign(claims)
}
