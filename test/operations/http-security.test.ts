import t from 'tap'
import { authFor, build } from '../helper.js'

const ALLOWED = 'https://shop.payme.test'

function directives(header: unknown): Map<string, string> {
  return new Map(
    String(header ?? '')
      .split(';')
      .map((part) => part.trim())
      .filter((part) => part !== '')
      .map((part) => {
        const [name = '', ...values] = part.split(/\s+/)
        return [name, values.join(' ')] as [string, string]
      }),
  )
}

t.test('security headers on API answers', async (t) => {
  const server = await build(t)
  for (const [name, url, headers] of [
    ['an API answer', '/api/customers/5', authFor(5)],
    ['an error', '/api/customers/5', {}],
    ['a probe', '/health', {}],
  ] as const) {
    const response = await server.inject({ method: 'GET', url, headers })
    t.equal(response.headers['x-content-type-options'], 'nosniff', `${name}: nosniff`)
    t.equal(response.headers['x-frame-options'], 'SAMEORIGIN', `${name}: frame options`)
    t.match(response.headers['strict-transport-security'], /max-age=\d+/, `${name}: HSTS`)
    t.equal(response.headers['referrer-policy'], 'no-referrer', `${name}: referrer policy`)
    t.ok(response.headers['content-security-policy'], `${name}: a CSP`)
  }
})

t.test('Swagger UI at /docs loads under the CSP', async (t) => {
  const server = await build(t)
  const page = await server.inject({ method: 'GET', url: '/docs/' })
  t.equal(page.statusCode, 200, 'the page')
  const csp = directives(page.headers['content-security-policy'])
  t.equal(csp.get('script-src'), "'self'", "scripts: 'self' only")
  t.notOk(csp.has('upgrade-insecure-requests'), 'no upgrade-insecure-requests (plain http works)')
  t.notMatch(page.body, /<script(?![^>]*\bsrc=)[^>]*>/i, 'no inline script for the CSP to block')
  const assets = [...page.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1]!)
  t.ok(assets.length >= 4, 'the page names its scripts and styles')
  for (const asset of assets) {
    t.notMatch(asset, /^(https?:)?\/\//, `${asset}: from this origin`)
    const url = asset.startsWith('/') ? asset : `/docs/${asset.replace(/^\.\//, '')}`
    const response = await server.inject({ method: 'GET', url })
    t.equal(response.statusCode, 200, `${asset}: served`)
  }
  const initializer = await server.inject({
    method: 'GET',
    url: '/docs/static/swagger-initializer.js',
  })
  t.match(
    initializer.body,
    /validatorUrl":\s*null|validatorUrl:\s*null/,
    'no badge from another origin',
  )
  const document = await server.inject({ method: 'GET', url: '/docs/json' })
  t.equal(document.statusCode, 200, 'the document Swagger UI reads')
})

t.test('CORS: no origin allowed by default', async (t) => {
  const server = await build(t)
  const response = await server.inject({
    method: 'GET',
    url: '/api/customers/5',
    headers: { ...authFor(5), origin: ALLOWED },
  })
  t.equal(response.statusCode, 200, 'the request itself is served')
  t.notOk(response.headers['access-control-allow-origin'], 'but no browser may read it')
  // Preflights are CORS's own route, not an operation of the contract: no contract check.
  const preflight = await server.app.inject({
    method: 'OPTIONS',
    url: '/api/customers/5',
    headers: { origin: ALLOWED, 'access-control-request-method': 'POST' },
  })
  t.notOk(preflight.headers['access-control-allow-origin'], 'preflight: not allowed')
})

t.test('CORS: the origins of CORS_ORIGINS, and only those', async (t) => {
  const server = await build(t, { config: { corsOrigins: [ALLOWED, 'http://localhost:5173'] } })
  const allowed = await server.inject({
    method: 'GET',
    url: '/api/customers/5',
    headers: { ...authFor(5), origin: ALLOWED },
  })
  t.equal(allowed.headers['access-control-allow-origin'], ALLOWED, 'allowed origin echoed')
  t.equal(allowed.headers['access-control-allow-credentials'], 'true', 'cookies allowed')
  t.match(allowed.headers['access-control-expose-headers'], /x-request-id/, 'x-request-id exposed')
  t.match(
    allowed.headers['access-control-expose-headers'],
    /x-ratelimit-remaining/,
    'limits exposed',
  )

  const preflight = await server.inject({
    method: 'OPTIONS',
    url: '/api/customers/5/1',
    headers: {
      origin: ALLOWED,
      'access-control-request-method': 'PATCH',
      'access-control-request-headers': 'authorization, content-type',
    },
  })
  t.equal(preflight.statusCode, 204, 'preflight: 204')
  t.equal(preflight.headers['access-control-allow-origin'], ALLOWED, 'preflight: origin')
  t.match(preflight.headers['access-control-allow-methods'], /PATCH/, 'preflight: methods')
  t.match(preflight.headers['access-control-allow-headers'], /authorization/, 'preflight: headers')
  t.ok(preflight.headers['x-request-id'], 'preflight: x-request-id like every answer')

  const other = await server.inject({
    method: 'GET',
    url: '/api/customers/5',
    headers: { ...authFor(5), origin: 'https://evil.test' },
  })
  t.notOk(other.headers['access-control-allow-origin'], 'another origin: not allowed')
})
