/**
 * `npm run sale -- --business 5 --customer 1 --amount 2500.00 [--type completed|refunded|voided]
 * [--sale S-1] [--payer 0712345678] [--url http://127.0.0.1:3000]`: builds a sale event as the sales service would,
 * signs it with the first SALES_WEBHOOK_SECRET (or the development one the service keeps in
 * DATA_DIR), posts it to the running service's webhook and prints the answer.
 */
import { randomBytes } from 'node:crypto'
import type { SaleEvent } from '../generated/schemas/SaleEvent.js'
import { ConfigError, loadConfig, type Config } from '../lib/config.js'
import { isZero, moneyFrom } from '../lib/money.js'
import { signatureHeader } from '../lib/webhook-signature.js'
import {
  httpUrl,
  nonNegativeInteger,
  oneOf,
  optional,
  parseCommandLine,
  positiveInteger,
  required,
  withDefault,
  type ValueType,
} from './cli.js'

const money: ValueType<string> = {
  expected: 'an amount of money above zero with at most two decimals, like 2500.00',
  read: (text) => {
    const amount = moneyFrom(text)
    return amount === undefined || isZero(amount) ? undefined : amount
  },
}

const args = parseCommandLine({
  command: 'npm run sale',
  summary:
    "Sends one sale event to the running service's sales webhook, signed as the sales service signs it (PayMe-Signature, with the first of SALES_WEBHOOK_SECRET), and prints the answer: exit 0 on 2xx, 1 otherwise. A refund or void names the completed sale with --sale.",
  options: {
    business: required(positiveInteger, { placeholder: '<id>', description: 'the business' }),
    customer: optional(positiveInteger, {
      placeholder: '<id>',
      description: 'the customer, who must exist in that business',
      absent: 'none picked at the till (customer_id null): the payer, if given, decides',
    }),
    payer: optional(
      {
        expected: 'a phone number, or the 64-hex SHA-256 of its E.164 digits',
        read: (text) => (/^[\d\s()+.-]{3,50}$|^[0-9a-fA-F]{64}$/.test(text) ? text : undefined),
      },
      {
        placeholder: '<phone>',
        description: 'who paid by M-Pesa: a phone in any format, or its SHA-256 (64 hex)',
        absent: 'no payer',
      },
    ),
    amount: optional(money, {
      placeholder: '<amount>',
      description: 'completed: the total; refunded: the amount refunded',
      absent: 'required unless --type voided',
    }),
    type: withDefault(oneOf(['completed', 'refunded', 'voided'] as const), {
      placeholder: '<type>',
      description: 'completed, refunded or voided',
      default: 'completed',
    }),
    sale: optional(
      {
        expected: 'a sale id of 1 to 100 characters',
        read: (text) => /^\S{1,100}$/.exec(text)?.[0],
      },
      {
        placeholder: '<sale-id>',
        description: 'the sale id; refunded and voided name the completed sale',
        absent: 'completed: a new id, printed; refunded and voided: required',
      },
    ),
    items: withDefault(nonNegativeInteger, {
      placeholder: '<n>',
      description: 'items in a completed sale',
      default: 1,
    }),
    payment: withDefault(oneOf(['mpesa', 'cash', 'credit'] as const), {
      placeholder: '<method>',
      description: 'payment method of a completed sale: mpesa, cash or credit',
      default: 'mpesa',
    }),
    url: optional(httpUrl, {
      placeholder: '<url>',
      description: 'where the service listens',
      absent: 'http://127.0.0.1:$PORT, PORT being 3000 unless set',
    }),
  },
  check: (values) => {
    if (values.type !== 'voided' && values.amount === undefined) {
      return `--amount is required for a ${values.type} sale`
    }
    if (values.type !== 'completed' && values.sale === undefined) {
      return `--sale is required for a ${values.type} sale: the id of the completed sale`
    }
    return undefined
  },
})

function eventOf(saleId: string, now: Date): SaleEvent {
  const payer =
    args.payer === undefined
      ? {}
      : /^[0-9a-fA-F]{64}$/.test(args.payer)
        ? { payer: { phone_sha256: args.payer } }
        : { payer: { phone: args.payer } }
  const base = {
    sale_id: saleId,
    business_id: args.business,
    customer_id: args.customer ?? null,
    ...payer,
  }
  const id = `evt_${randomBytes(8).toString('hex')}`
  const created_at = now.toISOString()
  switch (args.type) {
    case 'completed':
      return {
        id,
        type: 'sale.completed',
        created_at,
        data: {
          ...base,
          total_amount: args.amount,
          items_count: args.items,
          payment_method: args.payment,
          completed_at: created_at,
        },
      }
    case 'refunded':
      return {
        id,
        type: 'sale.refunded',
        created_at,
        data: { ...base, refund_amount: args.amount },
      }
    case 'voided':
      return { id, type: 'sale.voided', created_at, data: base }
  }
}

/** Where the service of this environment listens (HOST 0.0.0.0 or :: is reached on loopback). */
function serviceUrl(config: Config): string {
  const host = ['0.0.0.0', '::', ''].includes(config.host) ? '127.0.0.1' : config.host
  return `http://${host.includes(':') ? `[${host}]` : host}:${config.port}`
}

let config: Config
try {
  config = loadConfig()
} catch (error) {
  if (!(error instanceof ConfigError)) throw error
  console.error(error.message)
  process.exit(1)
}
const secret = config.salesWebhookSecrets[0]
if (!secret) {
  console.error(
    'SALES_WEBHOOK_SECRET is not set: set it to a secret the service has (export SALES_WEBHOOK_SECRET=…, 16+ characters) and start the service with it too',
  )
  process.exit(1)
}

const saleId = args.sale ?? `S-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`
const body = JSON.stringify(eventOf(saleId, new Date()))
const url = `${args.url ?? serviceUrl(config)}/webhooks/sales`
console.log(
  `sale.${args.type} of sale ${saleId} (business ${args.business}, ${args.customer === undefined ? 'no customer' : `customer ${args.customer}`}${args.payer === undefined ? '' : ', payer given'}${args.amount && args.type !== 'voided' ? `, ${args.amount}` : ''}) → ${url}`,
)
let response: Response
try {
  response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'payme-signature': signatureHeader(secret, body),
    },
    body,
  })
} catch (error) {
  const cause = (error as Error & { cause?: { code?: string; message?: string } }).cause
  console.error(
    `could not reach ${url} (${cause?.code ?? cause?.message ?? (error as Error).message}): is the service running (npm start)?`,
  )
  process.exit(1)
}
console.log(`${response.status} ${await response.text()}`)
if (response.status === 401) {
  console.error(
    'the service refused the signature: it must run with the SALES_WEBHOOK_SECRET this script used (or the same DATA_DIR, for the development secret)',
  )
}
process.exit(response.ok ? 0 : 1)
