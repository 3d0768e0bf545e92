import Fastify from 'fastify'
import t from 'tap'
import cookie from '../../plugins/external/cookie.js'
import jwt, { jwtOptions } from '../../plugins/external/jwt.js'
import rateLimit, { rateLimitOptions } from '../../plugins/external/rate-limit.js'
import auth from '../../plugins/auth.js'
import configPlugin from '../../plugins/config.js'
import db from '../../plugins/db.js'
import rateLimitPlugin, { rateLimitKey } from '../../plugins/rate-limit.js'
import { bearer, testConfig, testDatabase, tokenFor } from '../helper.js'

t.test('the rate-limit plugin alone on a bare Fastify', async (t) => {
  const config = testConfig({ rateLimitMax: 2 })
  const app = Fastify()
  await app.register(configPlugin, { config })
  await app.register(cookie)
  await app.register(jwt, jwtOptions(config))
  await app.register(rateLimit, rateLimitOptions(config, { keyGenerator: rateLimitKey }))
  await app.register(db, { connection: await testDatabase() })
  await app.register(auth)
  await app.register(rateLimitPlugin)
  // Authentication in a folder hook, as routes/api/customers does: the limit runs before it.
  await app.register(async (folder) => {
    folder.addHook('onRequest', folder.authenticate)
    folder.get('/private', async () => ({ ok: true }))
  })
  app.get('/own-limit', { config: { rateLimit: { max: 5 } } }, async () => ({ ok: true }))
  app.get('/unlimited', { config: { rateLimit: false } }, async () => ({ ok: true }))
  await app.ready()
  t.teardown(() => app.close())

  const cases: { name: string; headers: Record<string, string>; url: string; codes: number[] }[] = [
    {
      name: 'a user, by the sub of a verified token',
      headers: bearer(tokenFor({ sub: 101, businesses: [] })),
      url: '/private',
      codes: [200, 200, 429],
    },
    {
      name: 'the same sub in a cookie: the same count',
      headers: { cookie: `token=${tokenFor({ sub: 101, businesses: [] })}` },
      url: '/private',
      codes: [429],
    },
    {
      name: 'a forged token: per address, refused by auth, then limited',
      headers: bearer(tokenFor({ sub: 102, businesses: [] }, 'x'.repeat(40))),
      url: '/private',
      codes: [401, 401, 429],
    },
    { name: 'a route with its own limit', headers: {}, url: '/own-limit', codes: [200, 200, 200] },
    { name: 'an unlimited route', headers: {}, url: '/unlimited', codes: [200, 200, 200, 200] },
  ]
  for (const { name, headers, url, codes } of cases) {
    const got: number[] = []
    for (let attempt = 0; attempt < codes.length; attempt += 1) {
      got.push(
        (await app.inject({ method: 'GET', url, headers, remoteAddress: '10.9.8.7' })).statusCode,
      )
    }
    t.strictSame(got, codes, name)
  }
  const unknown = await app.inject({ method: 'GET', url: '/nowhere', remoteAddress: '10.9.8.7' })
  t.equal(unknown.statusCode, 429, 'the 404 handler counts against the address too')
})
