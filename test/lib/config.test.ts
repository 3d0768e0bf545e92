import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import {
  ConfigError,
  devSecretPath,
  devWebhookSecretPath,
  EnvironmentSchema,
  loadConfig,
} from '../../lib/config.js'

const SECRET = 's'.repeat(40)
const CURSOR = 'c'.repeat(16)
const PUBLIC_KEY = '-----BEGIN PUBLIC KEY-----\\nAAAA\\n-----END PUBLIC KEY-----'

const tempDir = (): string => mkdtempSync(join(tmpdir(), 'payme-config-'))

/**
 * Exactly the given variables: every variable the schema knows is named, unset unless given,
 * so the tests do not depend on the environment they run in.
 */
function environment(variables: Record<string, string>): NodeJS.ProcessEnv {
  const unset = Object.fromEntries(
    Object.keys(EnvironmentSchema.properties).map((name) => [name, undefined]),
  )
  return { ...unset, DATA_DIR: tempDir(), ...variables }
}

function thrown(work: () => unknown): unknown {
  try {
    work()
  } catch (error) {
    return error
  }
  return undefined
}

t.test('production without a JWT key refuses to start, naming JWT_SECRET', async (t) => {
  const dataDir = tempDir()
  const error = thrown(() => loadConfig(environment({ NODE_ENV: 'production', DATA_DIR: dataDir })))
  t.ok(error instanceof ConfigError, 'a ConfigError')
  t.match((error as Error | undefined)?.message, /JWT_SECRET/, 'the message names JWT_SECRET')
  t.notOk(existsSync(devSecretPath(dataDir)), 'no development secret was written')
})

t.test('a bad value stops start-up with a message naming the variable', async (t) => {
  const cases: { name: string; variable: string; variables: Record<string, string> }[] = [
    {
      name: 'a JWT_SECRET shorter than 32',
      variable: 'JWT_SECRET',
      variables: { JWT_SECRET: 'x'.repeat(31) },
    },
    {
      name: 'a short JWT_SECRET in production',
      variable: 'JWT_SECRET',
      variables: { NODE_ENV: 'production', JWT_SECRET: 'short' },
    },
    { name: 'PORT not a number', variable: 'PORT', variables: { PORT: 'abc', JWT_SECRET: SECRET } },
    {
      name: 'PORT above 65535',
      variable: 'PORT',
      variables: { PORT: '70000', JWT_SECRET: SECRET },
    },
    { name: 'PORT negative', variable: 'PORT', variables: { PORT: '-1', JWT_SECRET: SECRET } },
    { name: 'PORT a fraction', variable: 'PORT', variables: { PORT: '80.5', JWT_SECRET: SECRET } },
    {
      name: 'NODE_ENV unknown',
      variable: 'NODE_ENV',
      variables: { NODE_ENV: 'staging', JWT_SECRET: SECRET },
    },
    {
      name: 'DATABASE_URL not PostgreSQL',
      variable: 'DATABASE_URL',
      variables: { DATABASE_URL: 'mysql://db/x', JWT_SECRET: SECRET },
    },
    {
      name: 'LOG_LEVEL unknown',
      variable: 'LOG_LEVEL',
      variables: { LOG_LEVEL: 'loud', JWT_SECRET: SECRET },
    },
    {
      name: 'WORKERS neither true nor false',
      variable: 'WORKERS',
      variables: { WORKERS: 'sometimes', JWT_SECRET: SECRET },
    },
    {
      name: 'DB_POOL_MAX zero',
      variable: 'DB_POOL_MAX',
      variables: { DB_POOL_MAX: '0', JWT_SECRET: SECRET },
    },
    {
      name: 'JWT_PUBLIC_KEY not a PEM',
      variable: 'JWT_PUBLIC_KEY',
      variables: { JWT_PUBLIC_KEY: 'abc' },
    },
    {
      name: 'a CURSOR_SECRET shorter than 16',
      variable: 'CURSOR_SECRET',
      variables: { JWT_SECRET: SECRET, CURSOR_SECRET: 'c'.repeat(15) },
    },
    {
      name: 'a CURSOR_SECRET list with a short second secret',
      variable: 'CURSOR_SECRET',
      variables: { JWT_SECRET: SECRET, CURSOR_SECRET: `${CURSOR},short` },
    },
    {
      name: 'a CURSOR_SECRET list with an empty item',
      variable: 'CURSOR_SECRET',
      variables: { JWT_SECRET: SECRET, CURSOR_SECRET: `${CURSOR},,${CURSOR}` },
    },
    {
      name: 'a CURSOR_SECRET padded with spaces to 16',
      variable: 'CURSOR_SECRET',
      variables: { JWT_SECRET: SECRET, CURSOR_SECRET: `   ${'c'.repeat(13)}` },
    },
    {
      name: 'both JWT_SECRET and JWT_PUBLIC_KEY',
      variable: 'JWT_PUBLIC_KEY',
      variables: {
        JWT_SECRET: SECRET,
        JWT_PUBLIC_KEY: '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----',
      },
    },
  ]
  for (const { name, variable, variables } of cases) {
    const error = thrown(() => loadConfig(environment(variables)))
    t.ok(error instanceof ConfigError, `${name}: a ConfigError`)
    t.match(
      (error as Error | undefined)?.message,
      variable,
      `${name}: the message names ${variable}`,
    )
  }
})

t.test('good values are read and typed', async (t) => {
  const publicKey = '-----BEGIN PUBLIC KEY-----\\nAAAA\\n-----END PUBLIC KEY-----'
  const cases: {
    name: string
    variables: Record<string, string>
    expected: Record<string, unknown>
  }[] = [
    {
      name: 'defaults',
      variables: { JWT_SECRET: SECRET },
      expected: {
        env: 'development',
        port: 3000,
        host: '127.0.0.1',
        logLevel: 'info',
        dbPoolMax: 20,
      },
    },
    {
      name: 'explicit values',
      variables: {
        NODE_ENV: 'production',
        JWT_SECRET: SECRET,
        PORT: '8080',
        HOST: '0.0.0.0',
        LOG_LEVEL: 'warn',
        DATABASE_URL: 'postgres://db/payme',
      },
      expected: {
        env: 'production',
        port: 8080,
        host: '0.0.0.0',
        logLevel: 'warn',
        databaseUrl: 'postgres://db/payme',
        jwt: { kind: 'secret', secret: SECRET, source: 'env' },
      },
    },
    {
      name: 'a public key with escaped newlines',
      variables: { NODE_ENV: 'production', JWT_PUBLIC_KEY: publicKey, CURSOR_SECRET: CURSOR },
      expected: { jwt: { kind: 'public-key', publicKey: publicKey.replace(/\\n/g, '\n') } },
    },
    {
      name: 'issuer and audience',
      variables: {
        JWT_SECRET: SECRET,
        JWT_ISSUER: 'https://auth.payme.test',
        JWT_AUDIENCE: 'payme',
      },
      expected: { jwtIssuer: 'https://auth.payme.test', jwtAudience: 'payme' },
    },
  ]
  for (const { name, variables, expected } of cases) {
    const config = loadConfig(environment(variables))
    t.match(config, expected, `${name}: config`)
  }
})

t.test('without a secret in development a secret is made once and kept in DATA_DIR', async (t) => {
  const dataDir = join(tempDir(), 'not', 'yet', 'made')
  for (const nodeEnv of ['development', 'test']) {
    const dir = join(dataDir, nodeEnv)
    const first = loadConfig(environment({ NODE_ENV: nodeEnv, DATA_DIR: dir }))
    const path = devSecretPath(dir)
    t.ok(existsSync(path), `${nodeEnv}: the secret file is created in DATA_DIR`)
    t.equal(statSync(path).mode & 0o777, 0o600, `${nodeEnv}: the secret file is mode 0600`)
    if (first.jwt.kind !== 'secret') {
      t.fail(`${nodeEnv}: expected a secret, got ${first.jwt.kind}`)
      continue
    }
    t.equal(first.jwt.source, 'dev-file', `${nodeEnv}: the secret comes from the file`)
    t.equal(first.jwt.path, path, `${nodeEnv}: the config says where the secret is`)
    t.equal(first.jwt.secret, readFileSync(path, 'utf8').trim(), `${nodeEnv}: the file's secret`)
    t.ok(first.jwt.secret.length >= 32, `${nodeEnv}: at least 32 characters`)

    const second = loadConfig(environment({ NODE_ENV: nodeEnv, DATA_DIR: dir }))
    t.strictSame(second.jwt, first.jwt, `${nodeEnv}: the second start reuses the same secret`)
  }
  const other = loadConfig(environment({ DATA_DIR: join(tempDir(), 'other') }))
  const first = loadConfig(environment({ DATA_DIR: join(dataDir, 'development') }))
  t.not(
    other.jwt.kind === 'secret' && other.jwt.secret,
    first.jwt.kind === 'secret' && first.jwt.secret,
    'another data folder gets another secret (no fixed fallback)',
  )
})

t.test('loadConfig reads only the variables it is given', async (t) => {
  const saved = process.env.JWT_SECRET
  t.teardown(() => {
    if (saved === undefined) delete process.env.JWT_SECRET
    else process.env.JWT_SECRET = saved
  })
  process.env.JWT_SECRET = SECRET
  const error = thrown(() => loadConfig({ NODE_ENV: 'production', DATA_DIR: tempDir() }))
  t.ok(
    error instanceof ConfigError,
    'production without JWT_SECRET in the given source refuses, whatever process.env holds',
  )
})

t.test('the cursor secrets: CURSOR_SECRET, else the HS256 JWT secret, else refuse', async (t) => {
  const rotation = `${'n'.repeat(20)}, ${'o'.repeat(20)}`
  t.strictSame(
    loadConfig(environment({ JWT_SECRET: SECRET, CURSOR_SECRET: rotation })).cursorSecrets,
    ['n'.repeat(20), 'o'.repeat(20)],
    'CURSOR_SECRET: every secret, trimmed, the first (the one that signs) first',
  )
  t.strictSame(
    loadConfig(environment({ NODE_ENV: 'production', JWT_SECRET: SECRET })).cursorSecrets,
    [SECRET],
    'production without CURSOR_SECRET: the HS256 JWT_SECRET (lib/list-cursor.ts derives the key)',
  )
  const dataDir = tempDir()
  const development = loadConfig(environment({ DATA_DIR: dataDir }))
  t.strictSame(
    development.cursorSecrets,
    [readFileSync(devSecretPath(dataDir), 'utf8').trim()],
    'development without any secret: the development secret kept in DATA_DIR',
  )
  const publicKeyDir = tempDir()
  const withPublicKey = loadConfig(
    environment({ JWT_PUBLIC_KEY: PUBLIC_KEY, DATA_DIR: publicKeyDir }),
  )
  t.strictSame(
    withPublicKey.cursorSecrets,
    [readFileSync(devSecretPath(publicKeyDir), 'utf8').trim()],
    'development with a public key: the development secret kept in DATA_DIR',
  )
  t.ok(withPublicKey.cursorSecrets[0]!.length >= 32, 'a random secret, not a fixed one')

  const productionDir = tempDir()
  const error = thrown(() =>
    loadConfig(
      environment({ NODE_ENV: 'production', JWT_PUBLIC_KEY: PUBLIC_KEY, DATA_DIR: productionDir }),
    ),
  )
  t.ok(error instanceof ConfigError, 'production with a public key and no CURSOR_SECRET refuses')
  const message = (error as Error | undefined)?.message ?? ''
  t.match(message, /\bCURSOR_SECRET\b/, 'the message names CURSOR_SECRET')
  t.equal(message.split('\n').length, 1, 'in one line')
  t.notOk(existsSync(devSecretPath(productionDir)), 'no development secret was written')
  t.strictSame(
    loadConfig(
      environment({ NODE_ENV: 'production', JWT_PUBLIC_KEY: PUBLIC_KEY, CURSOR_SECRET: CURSOR }),
    ).cursorSecrets,
    [CURSOR],
    'production with a public key and CURSOR_SECRET starts',
  )
})

t.test(
  'the sales webhook secret: SALES_WEBHOOK_SECRET, else a development one in DATA_DIR',
  async (t) => {
    const dataDir = join(tempDir(), 'not', 'yet', 'made')
    const first = loadConfig(environment({ DATA_DIR: dataDir }))
    const path = devWebhookSecretPath(dataDir)
    t.ok(existsSync(path), 'development: the secret file is created in DATA_DIR')
    t.equal(statSync(path).mode & 0o777, 0o600, 'mode 0600')
    t.strictSame(
      first.salesWebhookSecrets,
      [readFileSync(path, 'utf8').trim()],
      "the file's secret",
    )
    t.equal(first.salesWebhookSecretFile, path, 'the config says where it is (for the banner)')
    t.ok(first.salesWebhookSecrets[0]!.length >= 32, 'a random secret of 32+ characters')
    t.not(
      first.salesWebhookSecrets[0],
      first.jwt.kind === 'secret' ? first.jwt.secret : undefined,
      'not the development JWT secret',
    )
    const second = loadConfig(environment({ DATA_DIR: dataDir }))
    t.strictSame(second.salesWebhookSecrets, first.salesWebhookSecrets, 'a second start reuses it')
    const other = loadConfig(environment({ DATA_DIR: tempDir() }))
    t.not(other.salesWebhookSecrets[0], first.salesWebhookSecrets[0], 'another folder, another one')

    const configuredDir = tempDir()
    const configured = loadConfig(
      environment({
        DATA_DIR: configuredDir,
        SALES_WEBHOOK_SECRET: `${'a'.repeat(16)}, ${'b'.repeat(16)}`,
      }),
    )
    t.strictSame(configured.salesWebhookSecrets, ['a'.repeat(16), 'b'.repeat(16)], 'set: those')
    t.equal(configured.salesWebhookSecretFile, undefined, 'set: no development file named')
    t.notOk(existsSync(devWebhookSecretPath(configuredDir)), 'set: no development file made')

    const productionDir = tempDir()
    const production = loadConfig(
      environment({ NODE_ENV: 'production', JWT_SECRET: SECRET, DATA_DIR: productionDir }),
    )
    t.strictSame(production.salesWebhookSecrets, [], 'production unset: none (every sale is a 401)')
    t.notOk(existsSync(devWebhookSecretPath(productionDir)), 'production: no development file')
  },
)

t.test('a bad value is reported before any development secret is written', async (t) => {
  const cases: Record<string, string>[] = [
    { TRUST_PROXY: 'everyone' },
    { CURSOR_SECRET: `${CURSOR}, short` },
    { SALES_WEBHOOK_SECRET: `${CURSOR},   ${'w'.repeat(13)}` },
  ]
  for (const variables of cases) {
    const dataDir = tempDir()
    const error = thrown(() => loadConfig(environment({ DATA_DIR: dataDir, ...variables })))
    t.ok(error instanceof ConfigError, `${Object.keys(variables)[0]}: a ConfigError`)
    t.notOk(existsSync(devSecretPath(dataDir)), 'no development JWT secret written')
    t.notOk(existsSync(devWebhookSecretPath(dataDir)), 'no development webhook secret written')
  }
})
