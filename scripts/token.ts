/**
 * `npm run token -- --business 5 [--business 6] [--sub 1] [--hours 12]` prints a token signed
 * with JWT_SECRET, or with the development secret the service made in DATA_DIR.
 */
import { ConfigError, loadConfig } from '../lib/config.js'
import { parseCommandLine, positiveInteger, repeated, withDefault } from './cli.js'
import { developmentToken } from './development-token.js'

const args = parseCommandLine({
  command: 'npm run token',
  summary:
    "Prints a development token (HS256) on stdout, signed with JWT_SECRET or, without it, with the service's development secret in DATA_DIR; what it grants goes to stderr.",
  options: {
    business: repeated(positiveInteger, {
      placeholder: '<id>',
      description: 'a business the token grants',
    }),
    sub: withDefault(positiveInteger, {
      placeholder: '<id>',
      description: "the user's id: the token's sub, the created_by of notes",
      default: 1,
    }),
    hours: withDefault(positiveInteger, {
      placeholder: '<n>',
      description: 'hours until the token expires',
      default: 12,
    }),
  },
})

try {
  const config = loadConfig()
  const token = developmentToken(config, { sub: args.sub, businesses: args.business }, args.hours)
  if (config.jwt.kind !== 'secret' || token === undefined) {
    console.error('JWT_PUBLIC_KEY is set: tokens come from the auth service, not from here.')
    process.exit(1)
  }
  console.log(token)
  const secret =
    config.jwt.source === 'env' ? 'JWT_SECRET' : `the development secret in ${config.jwt.path}`
  console.error(
    `token for user ${args.sub}, ${args.business.length > 1 ? 'businesses' : 'business'} ${args.business.join(', ')}, valid ${args.hours} h, signed with ${secret}`,
  )
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(error.message)
    process.exit(1)
  }
  throw error
}
