import fp from 'fastify-plugin'

/**
 * Every response, errors included, names its request (the id comes from server-options). Set
 * on send, so that answers given early by another hook (a CORS preflight, a 429) carry it too.
 */
export default fp(
  async function requestIdPlugin(app) {
    app.addHook('onSend', async function echoRequestId(request, reply) {
      reply.header('x-request-id', request.id)
    })
  },
  { name: 'request-id' },
)
