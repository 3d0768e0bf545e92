import fastifyHelmet, { type FastifyHelmetOptions } from '@fastify/helmet'
import Fastify, { type FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import securityHeaders, { helmetOptions } from '../../plugins/security-headers.js'

/** Everything a response carries but the date, which moves. */
async function headersOf(
  t: Test,
  app: FastifyInstance,
  url: string,
): Promise<Record<string, unknown>> {
  const { date, ...headers } = (await app.inject({ method: 'GET', url })).headers
  t.ok(date, `${url}: a date header`)
  return headers
}

function withRoutes(app: FastifyInstance): FastifyInstance {
  app.get('/ok', async () => ({ ok: true }))
  app.get('/fails', async () => {
    throw new Error('fails')
  })
  app.get('/own-header', async (_request, reply) => {
    void reply.header('x-frame-options', 'DENY')
    return 'text'
  })
  return app
}

t.test('the same headers as @fastify/helmet with the same options, set once', async (t) => {
  const reference = withRoutes(Fastify())
  // The same object: @fastify/helmet types it from helmet's CommonJS declarations, we from its ESM ones.
  await reference.register(fastifyHelmet, helmetOptions as unknown as FastifyHelmetOptions)
  const ours = withRoutes(Fastify())
  await ours.register(securityHeaders, { helmet: helmetOptions })
  t.teardown(() => Promise.all([reference.close(), ours.close()]))
  for (const url of ['/ok', '/fails', '/own-header', '/not-found']) {
    t.same(
      await headersOf(t, ours, url),
      await headersOf(t, reference, url),
      `${url}: every header`,
    )
  }
  const headers = await headersOf(t, ours, '/ok')
  t.match(headers['content-security-policy'], /script-src 'self'/, 'a CSP')
  t.notMatch(headers['content-security-policy'], /upgrade-insecure-requests/, 'plain http works')
  t.equal(headers['x-frame-options'], 'SAMEORIGIN', 'frame options')
  t.equal(
    (await headersOf(t, ours, '/own-header'))['x-frame-options'],
    'DENY',
    'a route may override',
  )
})
