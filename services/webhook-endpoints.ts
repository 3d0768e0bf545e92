import { randomBytes } from 'node:crypto'
import { sequenceEvents } from '../db/customer-events.js'
import type { EventType } from '../db/database.js'
import { inTransaction, type Executor } from '../db/executor.js'
import { listDeliveries } from '../db/webhook-deliveries.js'
import * as endpoints from '../db/webhook-endpoints.js'
import type { WebhookDelivery } from '../generated/schemas/WebhookDelivery.js'
import type { WebhookEndpoint } from '../generated/schemas/WebhookEndpoint.js'
import type { WebhookEndpointCreated } from '../generated/schemas/WebhookEndpointCreated.js'
import { invalid, NotFound } from '../lib/domain-errors.js'
import { checkEndpointUrl, type OutboundPolicy } from '../lib/outbound/endpoint-url.js'
import { toWebhookDelivery, toWebhookEndpoint } from './representations.js'

/** 32 random bytes: the key of the endpoint's HMAC signatures. */
const newSecret = (): string => `whsec_${randomBytes(32).toString('base64url')}`

async function checkedUrl(url: string, policy: OutboundPolicy): Promise<string> {
  const refusal = await checkEndpointUrl(url, policy)
  if (refusal) throw invalid('url', refusal.reason)
  return url
}

/**
 * Registers an endpoint that receives the business's events of `events` from now on: it starts
 * at the end of the feed (the events committed so far are numbered first). The secret is in
 * this answer only.
 */
export async function createEndpoint(
  db: Executor,
  businessId: number,
  body: { url: string; events: EventType[] },
  policy: OutboundPolicy,
): Promise<WebhookEndpointCreated['webhook_endpoint']> {
  const url = await checkedUrl(body.url, policy)
  const secret = newSecret()
  await sequenceEvents(db, businessId)
  const row = await endpoints.insertEndpoint(db, businessId, { url, events: body.events, secret })
  return { ...toWebhookEndpoint(row), secret }
}

export async function listEndpoints(db: Executor, businessId: number): Promise<WebhookEndpoint[]> {
  return (await endpoints.listEndpoints(db, businessId)).map(toWebhookEndpoint)
}

export async function getEndpoint(
  db: Executor,
  businessId: number,
  endpointId: number,
): Promise<WebhookEndpoint> {
  const row = await endpoints.findEndpoint(db, businessId, endpointId)
  if (!row) throw new NotFound('webhook endpoint')
  return toWebhookEndpoint(row)
}

/** Enabling a disabled endpoint starts it at the end of the feed (numbered first). */
export async function updateEndpoint(
  db: Executor,
  businessId: number,
  endpointId: number,
  change: { url?: string; events?: EventType[]; enabled?: boolean },
  policy: OutboundPolicy,
): Promise<WebhookEndpoint> {
  const url = change.url === undefined ? undefined : await checkedUrl(change.url, policy)
  if (change.enabled === true) await sequenceEvents(db, businessId)
  const row = await endpoints.updateEndpoint(db, businessId, endpointId, {
    ...change,
    ...(url === undefined ? {} : { url }),
  })
  if (!row) throw new NotFound('webhook endpoint')
  return toWebhookEndpoint(row)
}

export async function deleteEndpoint(
  db: Executor,
  businessId: number,
  endpointId: number,
): Promise<void> {
  if (!(await endpoints.deleteEndpoint(db, businessId, endpointId))) {
    throw new NotFound('webhook endpoint')
  }
}

/** The endpoint's attempts, newest first. */
export async function listEndpointDeliveries(
  db: Executor,
  businessId: number,
  endpointId: number,
  limit: number,
): Promise<WebhookDelivery[]> {
  return inTransaction(db, async (trx) => {
    if (!(await endpoints.findEndpoint(trx, businessId, endpointId))) {
      throw new NotFound('webhook endpoint')
    }
    return (await listDeliveries(trx, businessId, endpointId, limit)).map(toWebhookDelivery)
  })
}
