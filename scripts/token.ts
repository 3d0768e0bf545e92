/**
 * `npm run token -- --sub 1 --business 5 [--business 6] [--hours 12]` prints a token signed
 * with JWT_SECRET, or with the development secret the service made in DATA_DIR.
 */
import { parseArgs } from 'node:util'
import { createSigner } from 'fast-jwt'
import { ConfigError, loadConfig } from '../lib/config.js'

const { values } = parseArgs({
  options: {
    sub: { type: 'string', default: '1' },
    business: { type: 'string', multiple: true, default: ['1'] },
    hours: { type: 'string', default: '12' },
  },
})

try {
  const config = loadConfig()
  if (config.jwt.kind !== 'secret') {
    console.error('JWT_PUBLIC_KEY is set: tokens come from the auth service, not from here.')
    process.exit(1)
  }
  const businesses = values.business.map(Number)
  const hours = Number(values.hours)
  if (!/^\d+$/.test(values.sub) || businesses.some((id) => !Number.isInteger(id) || id < 1)) {
    console.error('--sub and --business take positive integer ids')
    process.exit(1)
  }
  const sign = createSigner({
    key: config.jwt.secret,
    algorithm: 'HS256',
    expiresIn: hours * 3600 * 1000,
    ...(config.jwtIssuer ? { iss: config.jwtIssuer } : {}),
    ...(config.jwtAudience ? { aud: config.jwtAudience } : {}),
  })
  console.log(sign({ sub: Number(values.sub), businesses }))
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(error.message)
    process.exit(1)
  }
  throw error
}
