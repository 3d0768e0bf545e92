import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createVerifier } from 'fast-jwt'
import t from 'tap'
import { TEST_JWT_SECRET } from '../helper.js'
import { assertUsageError, runScript } from './run-script.js'

interface Claims {
  sub: number
  businesses: number[]
  iat: number
  exp: number
}

t.test('without --business: a usage error, no token for a business nobody asked for', async (t) => {
  const run = await runScript('scripts/token.ts', ['--sub', '1'])
  assertUsageError(
    t,
    run,
    'npm run token',
    'npm run token: --business is required',
    'no --business',
  )
})

t.test('defaults: user 1, 12 hours, signed with the development secret in DATA_DIR', async (t) => {
  const run = await runScript('scripts/token.ts', ['--business', '5'])
  t.equal(run.code, 0, 'exit 0')
  const dataDir = /in (.+)\/dev-jwt-secret\n$/.exec(run.stderr)?.[1]
  t.ok(dataDir, `stderr names the secret's file: ${run.stderr}`)
  const secret = readFileSync(join(dataDir ?? '', 'dev-jwt-secret'), 'utf8').trim()
  const claims = createVerifier({ key: secret })(run.stdout.trim()) as Claims
  t.equal(claims.sub, 1, 'sub 1')
  t.same(claims.businesses, [5], 'business 5')
  t.equal(claims.exp - claims.iat, 12 * 3600, '12 hours')
  t.match(
    run.stderr,
    /^token for user 1, business 5, valid 12 h, signed with the development secret/,
  )
})

t.test('--business repeated, --sub and --hours, signed with JWT_SECRET', async (t) => {
  const run = await runScript(
    'scripts/token.ts',
    ['--business', '5', '--business', '6', '--sub', '7', '--hours', '2'],
    { JWT_SECRET: TEST_JWT_SECRET },
  )
  t.equal(run.code, 0, 'exit 0')
  const claims = createVerifier({ key: TEST_JWT_SECRET })(run.stdout.trim()) as Claims
  t.equal(claims.sub, 7, 'sub')
  t.same(claims.businesses, [5, 6], 'businesses')
  t.equal(claims.exp - claims.iat, 2 * 3600, 'hours')
  t.equal(run.stderr, 'token for user 7, businesses 5, 6, valid 2 h, signed with JWT_SECRET\n')
})
