import { createHmac, generateKeyPairSync, randomBytes } from 'node:crypto'
import { createSigner } from 'fast-jwt'
import Fastify, { type LightMyRequestResponse } from 'fastify'
import t, { type Test } from 'tap'
import { loadOpenApiDocument } from '../../lib/openapi-document.js'
import auth from '../../plugins/auth.js'
import configPlugin from '../../plugins/config.js'
import db from '../../plugins/db.js'
import cookie from '../../plugins/external/cookie.js'
import jwt, { jwtOptions } from '../../plugins/external/jwt.js'
import {
  authFor,
  bearer,
  build,
  fileServer,
  testConfig,
  testDatabase,
  tokenFor,
  TEST_JWT_SECRET,
  type TestServer,
} from '../helper.js'
import { documentOperations } from '../support/openapi.js'

type Claims = Record<string, unknown>

const nowSeconds = (): number => Math.floor(Date.now() / 1000)
const encode = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')

/** Claims of a good token for business 5, valid for an hour. */
const goodClaims = (overrides: Claims = {}): Claims => ({
  sub: 1,
  businesses: [5],
  exp: nowSeconds() + 3600,
  ...overrides,
})

/** Signs exactly the claims given (no `exp` is added), with fast-jwt. */
function sign(claims: Claims, key: string, algorithm: 'HS256' | 'HS512' | 'RS256' | 'ES256') {
  return createSigner({ key, algorithm, noTimestamp: true })(claims)
}

/** A token whose header says whatever we like, HMAC-SHA256-signed by hand with any key text. */
function handSigned(header: Claims, claims: Claims, key: string): string {
  const input = `${encode(header)}.${encode(claims)}`
  return `${input}.${createHmac('sha256', key).update(input).digest('base64url')}`
}

const unsigned = (claims: Claims): string =>
  `${encode({ alg: 'none', typ: 'JWT' })}.${encode(claims)}.`

function withPayload(token: string, claims: Claims): string {
  const [header, , signature] = token.split('.')
  return `${header}.${encode(claims)}.${signature}`
}

const cookieWith = (token: string): Record<string, string> => ({ cookie: `token=${token}` })

const LIST = '/api/customers/5'

function assertAuthenticationFailed(t: Test, response: LightMyRequestResponse, name: string) {
  if (!t.equal(response.statusCode, 401, `${name}: status`)) return
  t.strictSame(
    response.json(),
    {
      error: 'Authentication failed',
      message: 'Invalid or expired token',
      request_id: response.headers['x-request-id'],
    },
    `${name}: body`,
  )
}

const get = (server: TestServer, headers: Record<string, string>, url = LIST) =>
  server.inject({ method: 'GET', url, headers })

t.test('a request without a token is a 401 "Authentication required"', async (t) => {
  const server = await fileServer(t)
  const cases: { name: string; headers: Record<string, string> }[] = [
    { name: 'no credentials', headers: {} },
    { name: 'a cookie header without the token cookie', headers: { cookie: 'theme=dark' } },
    { name: 'an empty token cookie', headers: { cookie: 'token=' } },
    {
      name: 'Basic credentials instead of a bearer token',
      headers: { authorization: 'Basic dTpw' },
    },
  ]
  for (const { name, headers } of cases) {
    const response = await get(server, headers)
    t.equal(response.statusCode, 401, `${name}: status`)
    t.strictSame(
      response.json(),
      { error: 'Authentication required', request_id: response.headers['x-request-id'] },
      `${name}: body`,
    )
  }
})

t.test('a bad, expired or wrongly signed token is a 401 "Authentication failed"', async (t) => {
  const server = await fileServer(t)
  const good = tokenFor({ sub: 1, businesses: [5] })
  const otherSecret = randomBytes(32).toString('base64url')
  const cases: { name: string; token: string }[] = [
    {
      name: 'payload changed after signing',
      token: withPayload(good, goodClaims({ businesses: [5, 6] })),
    },
    { name: 'sub changed after signing', token: withPayload(good, goodClaims({ sub: 2 })) },
    { name: 'signature removed', token: good.split('.').slice(0, 2).join('.') + '.' },
    { name: 'signed with another secret', token: tokenFor({ businesses: [5] }, otherSecret) },
    {
      name: 'expired a minute ago',
      token: sign(goodClaims({ exp: nowSeconds() - 60 }), TEST_JWT_SECRET, 'HS256'),
    },
    { name: 'no exp claim', token: sign({ sub: 1, businesses: [5] }, TEST_JWT_SECRET, 'HS256') },
    {
      name: 'not valid yet (nbf in an hour)',
      token: sign(goodClaims({ nbf: nowSeconds() + 3600 }), TEST_JWT_SECRET, 'HS256'),
    },
    { name: 'alg none, no signature', token: unsigned(goodClaims()) },
    {
      name: 'alg none with the signature of a good token',
      token: `${unsigned(goodClaims())}${good.split('.')[2]}`,
    },
    {
      name: 'alg NONE in capitals',
      token: `${encode({ alg: 'NONE', typ: 'JWT' })}.${encode(goodClaims())}.`,
    },
    {
      name: 'HS512 with the right secret (algorithm not allowed)',
      token: sign(goodClaims(), TEST_JWT_SECRET, 'HS512'),
    },
    {
      name: 'header says HS512, signed HS256',
      token: handSigned({ alg: 'HS512', typ: 'JWT' }, goodClaims(), TEST_JWT_SECRET),
    },
    { name: 'malformed: not a JWT', token: 'not-a-jwt' },
    { name: 'malformed: three garbage parts', token: 'abc.def.ghi' },
    {
      name: 'malformed: header is not JSON',
      token: `${Buffer.from('{').toString('base64url')}.${encode(goodClaims())}.x`,
    },
    { name: 'businesses missing', token: tokenFor({ sub: 1 }) },
    { name: 'businesses a number', token: tokenFor({ businesses: 5 }) },
    { name: 'businesses a string', token: tokenFor({ businesses: '5' }) },
    { name: 'businesses null', token: tokenFor({ businesses: null }) },
    { name: 'businesses an object', token: tokenFor({ businesses: { 5: true } }) },
    { name: 'businesses holding 0', token: tokenFor({ businesses: [0] }) },
    { name: 'businesses holding a negative id', token: tokenFor({ businesses: [-5] }) },
    { name: 'businesses holding a fraction', token: tokenFor({ businesses: [5.5] }) },
    { name: 'businesses holding text', token: tokenFor({ businesses: [5, 'abc'] }) },
    { name: 'businesses holding null', token: tokenFor({ businesses: [5, null] }) },
    {
      name: 'no sub',
      token: sign({ businesses: [5], exp: nowSeconds() + 3600 }, TEST_JWT_SECRET, 'HS256'),
    },
    { name: 'sub not a number', token: tokenFor({ sub: 'abc', businesses: [5] }) },
    { name: 'sub a fraction', token: tokenFor({ sub: 1.5, businesses: [5] }) },
    { name: 'sub null', token: sign(goodClaims({ sub: null }), TEST_JWT_SECRET, 'HS256') },
    { name: 'sub an empty string', token: tokenFor({ sub: '', businesses: [5] }) },
  ]
  for (const { name, token } of cases) {
    assertAuthenticationFailed(t, await get(server, bearer(token)), `${name} (bearer)`)
    assertAuthenticationFailed(t, await get(server, cookieWith(token)), `${name} (cookie)`)
  }
  // The same claims, properly signed, are accepted: the failures above are the token's fault.
  const control = await get(server, bearer(sign(goodClaims(), TEST_JWT_SECRET, 'HS256')))
  t.equal(control.statusCode, 200, 'a good token made the same way: status')
})

t.test('a good token is accepted as a bearer header or as the token cookie', async (t) => {
  const server = await fileServer(t)
  const token = tokenFor({ sub: 1, businesses: [5] })
  const cases: { name: string; headers: Record<string, string> }[] = [
    { name: 'Authorization: Bearer', headers: bearer(token) },
    { name: 'cookie token', headers: cookieWith(token) },
    { name: 'cookie token among other cookies', headers: { cookie: `theme=dark; token=${token}` } },
  ]
  for (const { name, headers } of cases) {
    const response = await get(server, headers)
    t.equal(response.statusCode, 200, `${name}: status`)
    t.ok(
      Array.isArray((response.json() as { customers?: unknown }).customers),
      `${name}: the customer list`,
    )
  }
})

t.test('sub is accepted as an integer or an integer string and becomes created_by', async (t) => {
  const server = await fileServer(t)
  const created = await server.inject({
    method: 'POST',
    url: LIST,
    headers: authFor(5),
    payload: { name: 'Note Holder' },
  })
  t.equal(created.statusCode, 201, 'customer created')
  const customerId = (created.json() as { customer: { id: number } }).customer.id
  const cases: { name: string; sub: number | string; expected: number }[] = [
    { name: 'integer sub', sub: 42, expected: 42 },
    { name: 'integer string sub', sub: '43', expected: 43 },
  ]
  for (const { name, sub, expected } of cases) {
    const response = await server.inject({
      method: 'POST',
      url: `${LIST}/${customerId}/notes`,
      headers: bearer(tokenFor({ sub, businesses: [5] })),
      payload: { content: `written by ${name}` },
    })
    t.equal(response.statusCode, 201, `${name}: status`)
    t.equal(
      (response.json() as { note: { created_by: number } }).note.created_by,
      expected,
      `${name}: created_by`,
    )
  }
})

t.test('a business row is created on first use by a token that grants it', async (t) => {
  const server = await fileServer(t)
  const exists = async (id: number) =>
    (await server.database.db
      .selectFrom('businesses')
      .select('id')
      .where('id', '=', id)
      .executeTakeFirst()) !== undefined
  t.notOk(await exists(77), 'business 77 does not exist before')
  const granted = await get(server, authFor(77), '/api/customers/77')
  t.equal(granted.statusCode, 200, 'first request for business 77: status')
  t.ok(await exists(77), 'business 77 exists after a granted request')

  const denied = await get(server, authFor(77), '/api/customers/78')
  t.equal(denied.statusCode, 403, 'business 78 with a token for 77: status')
  t.notOk(await exists(78), 'a refused request creates no business')
  const anonymous = await get(server, {}, '/api/customers/79')
  t.equal(anonymous.statusCode, 401, 'business 79 without a token: status')
  t.notOk(await exists(79), 'an unauthenticated request creates no business')
})

/** A key pair as PEM text, the form JWT_PUBLIC_KEY takes. */
function pemPair(type: 'rsa' | 'ec'): { publicKey: string; privateKey: string } {
  const publicKeyEncoding = { type: 'spki', format: 'pem' } as const
  const privateKeyEncoding = { type: 'pkcs8', format: 'pem' } as const
  return type === 'rsa'
    ? generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding, privateKeyEncoding })
    : generateKeyPairSync('ec', { namedCurve: 'P-256', publicKeyEncoding, privateKeyEncoding })
}

t.test('with a public key, RS256 or ES256 tokens are verified and HS256 is refused', async (t) => {
  const rsa = pemPair('rsa')
  const otherRsa = pemPair('rsa')
  const ec = pemPair('ec')
  const otherEc = pemPair('ec')
  const keys = [
    {
      name: 'RSA',
      publicKey: rsa.publicKey,
      good: sign(goodClaims(), rsa.privateKey, 'RS256'),
      wrongKey: sign(goodClaims(), otherRsa.privateKey, 'RS256'),
      noExp: sign({ sub: 1, businesses: [5] }, rsa.privateKey, 'RS256'),
    },
    {
      name: 'EC P-256',
      publicKey: ec.publicKey,
      good: sign(goodClaims(), ec.privateKey, 'ES256'),
      wrongKey: sign(goodClaims(), otherEc.privateKey, 'ES256'),
      noExp: sign({ sub: 1, businesses: [5] }, ec.privateKey, 'ES256'),
    },
  ]
  for (const key of keys) {
    const server = await build(t, {
      config: { jwt: { kind: 'public-key', publicKey: key.publicKey } },
    })
    const accepted = await get(server, bearer(key.good))
    t.equal(accepted.statusCode, 200, `${key.name}: a token signed with the private key: status`)
    const refused: { name: string; token: string }[] = [
      { name: 'signed with another private key', token: key.wrongKey },
      { name: 'no exp claim', token: key.noExp },
      {
        name: 'HS256 with the public key PEM as the HMAC secret (algorithm confusion)',
        token: handSigned({ alg: 'HS256', typ: 'JWT' }, goodClaims(), key.publicKey),
      },
      { name: 'HS256 with the test secret', token: tokenFor({ businesses: [5] }) },
      { name: 'alg none', token: unsigned(goodClaims()) },
    ]
    for (const { name, token } of refused) {
      assertAuthenticationFailed(t, await get(server, bearer(token)), `${key.name}: ${name}`)
    }
  }
})

t.test('with an issuer and an audience configured, both must match', async (t) => {
  const issuer = 'https://auth.payme.test'
  const audience = 'payme-customers'
  const server = await build(t, { config: { jwtIssuer: issuer, jwtAudience: audience } })
  const tokenWith = (claims: Claims) => sign(goodClaims(claims), TEST_JWT_SECRET, 'HS256')
  const accepted: { name: string; claims: Claims }[] = [
    { name: 'right iss and aud', claims: { iss: issuer, aud: audience } },
    {
      name: 'right iss, aud a list holding ours',
      claims: { iss: issuer, aud: ['other', audience] },
    },
  ]
  for (const { name, claims } of accepted) {
    t.equal((await get(server, bearer(tokenWith(claims)))).statusCode, 200, `${name}: status`)
  }
  const refused: { name: string; claims: Claims }[] = [
    { name: 'wrong iss', claims: { iss: 'https://evil.test', aud: audience } },
    { name: 'wrong aud', claims: { iss: issuer, aud: 'another-service' } },
    { name: 'both wrong', claims: { iss: 'https://evil.test', aud: 'another-service' } },
    { name: 'iss missing', claims: { aud: audience } },
    { name: 'aud missing', claims: { iss: issuer } },
  ]
  for (const { name, claims } of refused) {
    assertAuthenticationFailed(t, await get(server, bearer(tokenWith(claims))), name)
  }
})

t.test('every operation the document secures needs a token; public ones do not', async (t) => {
  const server = await fileServer(t)
  const document = loadOpenApiDocument()
  let secured = 0
  const operations = documentOperations<{ operationId?: string; security?: unknown[] }>(document)
  for (const { path, method, upperMethod, operation } of operations) {
    const url = path.replace('{businessId}', '5').replace('{customerId}', '1')
    const name = `${operation.operationId} (${upperMethod} ${path})`
    const response = await server.inject({
      method: upperMethod,
      url,
      ...(method === 'get' || method === 'delete' ? {} : { payload: {} }),
    })
    const isJson = String(response.headers['content-type']).startsWith('application/json')
    const body = isJson ? (response.json() as { error?: unknown }) : {}
    const error = String(body.error ?? '')
    if (Array.isArray(operation.security) && operation.security.length === 0) {
      t.notOk(
        ['Authentication required', 'Authentication failed'].includes(error),
        `${name}: public, no token asked for`,
      )
    } else {
      secured += 1
      t.equal(response.statusCode, 401, `${name}: secured, status without a token`)
      t.equal(error, 'Authentication required', `${name}: secured, error`)
    }
  }
  t.ok(secured > 0, 'the document secures some operations')
})

t.test('the auth plugin alone on a bare Fastify', async (t) => {
  const config = testConfig()
  const app = Fastify()
  await app.register(configPlugin, { config })
  await app.register(cookie)
  await app.register(jwt, jwtOptions(config))
  await app.register(db, { connection: await testDatabase() })
  await app.register(auth)
  app.get(
    '/b/:businessId',
    { onRequest: [app.authenticate, app.authorizeBusiness] },
    async function whoAmI(request) {
      return request.user
    },
  )
  await app.ready()
  t.teardown(() => app.close())

  const users: { name: string; sub: number | string; businesses: unknown[]; expected: unknown }[] =
    [
      { name: 'integer sub', sub: 7, businesses: [5], expected: { id: 7, businesses: [5] } },
      { name: 'string sub', sub: '7', businesses: [5, 6], expected: { id: 7, businesses: [5, 6] } },
    ]
  for (const { name, sub, businesses, expected } of users) {
    const response = await app.inject({
      method: 'GET',
      url: '/b/5',
      headers: bearer(tokenFor({ sub, businesses })),
    })
    t.equal(response.statusCode, 200, `${name}: status`)
    t.strictSame(response.json(), expected, `${name}: request.user`)
  }
  const refusals: { name: string; headers: Record<string, string>; status: number }[] = [
    { name: 'no token', headers: {}, status: 401 },
    { name: 'bad token', headers: bearer('abc.def.ghi'), status: 401 },
    { name: 'business not granted', headers: authFor(6), status: 403 },
  ]
  for (const { name, headers, status } of refusals) {
    const response = await app.inject({ method: 'GET', url: '/b/5', headers })
    t.equal(response.statusCode, status, `${name}: status`)
  }
})
