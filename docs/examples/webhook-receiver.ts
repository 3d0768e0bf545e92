/**
 * A receiver of PayMe Customers' events (`POST /webhook-endpoints`), in plain Node with no
 * dependencies: copy it, or read it as the recipe. It checks the signature over the raw body
 * before it trusts anything, refuses a stale timestamp, skips an event id it has seen (delivery
 * is at least once) and answers 2xx only once the event is handled.
 *
 *   WEBHOOK_SECRET=whsec_… PORT=4000 npx tsx docs/examples/webhook-receiver.ts
 */
import { createHmac, timingSafeEqual } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'

const TOLERANCE_SECONDS = 300

/** `t=<unix seconds>,v1=<hex>[,v1=…]`: true when a v1 is HMAC-SHA256(secret, "<t>.<body>"). */
export function signatureIsValid(
  header: string | undefined,
  rawBody: Buffer,
  secret: string,
  nowSeconds = Math.floor(Date.now() / 1000),
): boolean {
  if (!header) return false
  const parts = header.split(',').map((part) => part.trim().split('=', 2))
  const timestamp = Number(parts.find(([key]) => key === 't')?.[1])
  if (!Number.isInteger(timestamp) || Math.abs(nowSeconds - timestamp) > TOLERANCE_SECONDS) {
    return false
  }
  const expected = createHmac('sha256', secret).update(`${timestamp}.`).update(rawBody).digest()
  return parts.some(([key, value]) => {
    if (key !== 'v1' || !value || !/^[0-9a-f]{64}$/.test(value)) return false
    return timingSafeEqual(expected, Buffer.from(value, 'hex'))
  })
}

export interface CustomerEvent {
  id: number
  type: string
  business_id: number
  customer_id: number
  created_at: string
  data: Record<string, unknown>
}

export type Listener = (request: IncomingMessage, response: ServerResponse) => void

/** Hands each new, correctly signed event to `handle`, once per event id. */
export function receiveEvents(
  secret: string,
  handle: (event: CustomerEvent) => Promise<void> | void,
): Listener {
  // In production keep the ids in your database, in the transaction that stores the event.
  const seen = new Set<number>()
  return (request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      const rawBody = Buffer.concat(chunks)
      if (!signatureIsValid(request.headers['payme-signature'] as string, rawBody, secret)) {
        response.writeHead(400).end('bad signature')
        return
      }
      const event = JSON.parse(rawBody.toString('utf8')) as CustomerEvent
      if (seen.has(event.id)) {
        response.writeHead(200).end('already handled')
        return
      }
      Promise.resolve(handle(event)).then(
        () => {
          seen.add(event.id)
          response.writeHead(200).end('ok')
        },
        // Not handled: a 5xx makes PayMe send it again later.
        () => response.writeHead(500).end('try again'),
      )
    })
  }
}

export const createReceiver = (
  secret: string,
  handle: (event: CustomerEvent) => Promise<void> | void,
): Server => createServer(receiveEvents(secret, handle))

if (import.meta.url === `file://${process.argv[1]}`) {
  const secret = process.env.WEBHOOK_SECRET
  if (!secret) throw new Error('set WEBHOOK_SECRET to the secret POST /webhook-endpoints gave')
  const port = Number(process.env.PORT ?? 4000)
  createReceiver(secret, (event) => {
    console.log(`${event.type} of customer ${event.customer_id} (event ${event.id})`)
  }).listen(port, '127.0.0.1', () => console.log(`receiving on http://127.0.0.1:${port}/`))
}
