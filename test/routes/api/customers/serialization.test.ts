import Fastify from 'fastify'
import t from 'tap'
import app from '../../../../app.js'
import { serverOptions } from '../../../../server-options.js'
import { authFor, testConfig, testDatabase } from '../../../helper.js'

const BUSINESS = 131

t.test('the hot reads answer through their response schema, not JSON.stringify', async (t) => {
  const fastify = Fastify(serverOptions({ logLevel: 'silent' }))
  void fastify.register(app, { config: testConfig(), database: await testDatabase() })
  // Whether the answer's status has a serializer compiled from the route's schema.
  const compiled = new Map<string, boolean>()
  fastify.addHook('onSend', async (request, reply) => {
    const serializer = reply.getSerializationFunction(String(reply.statusCode))
    compiled.set(`${request.routeOptions.url} ${reply.statusCode}`, serializer !== undefined)
  })
  await fastify.ready()
  t.teardown(() => fastify.close())

  const created = await fastify.inject({
    method: 'POST',
    url: `/api/customers/${BUSINESS}`,
    headers: authFor(BUSINESS),
    payload: { name: 'Lemayian Serialised' },
  })
  t.equal(created.statusCode, 201, 'a customer to read')
  const id = created.json<{ customer: { id: number } }>().customer.id

  for (const [route, url] of [
    ['/api/customers/:businessId/:customerId', `/api/customers/${BUSINESS}/${id}`],
    ['/api/customers/:businessId/:customerId/metrics', `/api/customers/${BUSINESS}/${id}/metrics`],
    ['/api/customers/:businessId', `/api/customers/${BUSINESS}`],
    ['/api/customers/:businessId/search', `/api/customers/${BUSINESS}/search?q=lemayian`],
  ] as const) {
    const response = await fastify.inject({ method: 'GET', url, headers: authFor(BUSINESS) })
    t.equal(response.statusCode, 200, `${route}: status`)
    t.equal(compiled.get(`${route} 200`), true, `${route}: its 200 schema's serializer`)
  }
  const missing = await fastify.inject({
    method: 'GET',
    url: `/api/customers/${BUSINESS}/999999`,
    headers: authFor(BUSINESS),
  })
  t.equal(missing.statusCode, 404, 'an unknown customer')
  t.equal(
    compiled.get('/api/customers/:businessId/:customerId 404'),
    true,
    'errors too: the ApiError schema',
  )
})
