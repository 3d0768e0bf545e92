import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { receiveSaleEvent } from '../../generated/operations/receiveSaleEvent.js'
import { HttpError } from '../../lib/http-errors.js'
import { parseSignatureHeader, verifySignature } from '../../lib/webhook-signature.js'
import type { SalesHook } from '../../plugins/purchase-history.js'

const SIGNATURE_HEADER = 'payme-signature'

const invalidSignature = (): HttpError =>
  new HttpError(401, 'Invalid signature', 'PayMe-Signature is missing, wrong or stale')

/**
 * The sales feed. The signature is checked over the raw bytes before the body is parsed, so an
 * unsigned request is a 401 whatever it carries, and nothing is stored. A verified event is
 * emitted on the sales hook (plugins/purchase-history.ts), which records it through
 * services/sales-feed.ts; the answer waits for the commit.
 */
const salesWebhookRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const secrets = app.config.salesWebhookSecrets
  if (secrets.length === 0) {
    app.log.warn('SALES_WEBHOOK_SECRET is not set: every sales webhook will be refused (401)')
  }
  const parseJson = app.getDefaultJsonParser('error', 'error')

  app.addHook('onRequest', async function requireSignatureHeader(request) {
    const header = request.headers[SIGNATURE_HEADER]
    if (typeof header !== 'string' || !parseSignatureHeader(header)) throw invalidSignature()
  })

  app.addContentTypeParser(
    'application/json',
    { parseAs: 'buffer' },
    function verifiedJson(request, rawBody, done) {
      const header = request.headers[SIGNATURE_HEADER]
      if (!verifySignature(typeof header === 'string' ? header : undefined, rawBody, secrets)) {
        done(invalidSignature(), undefined)
        return
      }
      parseJson(request, rawBody.toString('utf8'), done)
    },
  )

  app.addHook('onResponse', async function countRefusals(_request, reply) {
    if (reply.statusCode < 400) return
    app.serviceMetrics.webhookEvents.inc({
      outcome: reply.statusCode < 500 ? 'rejected' : 'failed',
    })
  })

  const salesHook: SalesHook = app.salesHook
  app.route({
    ...receiveSaleEvent,
    // The sales service posts for every shop from few addresses: its own, higher limit.
    config: { rateLimit: { max: app.config.rateLimitWebhookMax }, changeActor: 'sales-feed' },
    handler: async function receive(request) {
      const outcome = await salesHook.emit(request.body)
      const metrics = app.serviceMetrics
      metrics.webhookEvents.inc({ outcome: outcome.status })
      if (outcome.matched_by) {
        metrics.saleAttributions.inc({ outcome: 'processed', matched_by: outcome.matched_by })
      } else if (outcome.status === 'unattributed') {
        metrics.saleAttributions.inc({ outcome: 'unattributed', matched_by: 'none' })
      }
      return outcome
    },
  })
}

export default salesWebhookRoutes
