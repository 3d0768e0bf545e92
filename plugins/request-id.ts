import fp from 'fastify-plugin'

/** Every response, errors included, names its request (the id comes from server-options). */
export default fp(
  async function requestIdPlugin(app) {
    app.addHook('onRequest', async function echoRequestId(request, reply) {
      reply.header('x-request-id', request.id)
    })
  },
  { name: 'request-id' },
)
