import { existsSync, mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { devWebhookSecretPath, loadConfig, type Config } from '../../lib/config.js'
import { authFor, build, TEST_JWT_SECRET } from '../helper.js'
import { signedEvent, type SaleEventBody } from '../sales-feed.js'

/**
 * Development works out of the box for the sales webhook (issue 12): without
 * SALES_WEBHOOK_SECRET, loadConfig makes a secret in DATA_DIR and the service accepts sales
 * signed with it (what `npm run sale` does). Production without it refuses every sale, as before.
 */

const tempDir = (): string => mkdtempSync(join(tmpdir(), 'payme-dev-webhook-'))

/** The service's configuration from these variables alone, quiet and without load shedding. */
function configFrom(variables: Record<string, string>): Partial<Config> {
  return {
    ...loadConfig(variables),
    logLevel: 'silent',
    maxEventLoopDelayMs: 0,
    maxHeapUsedBytes: 0,
  }
}

function completedSale(customerId: number, saleId: string): SaleEventBody {
  return {
    id: `evt-${saleId}`,
    type: 'sale.completed',
    created_at: '2026-11-26T09:59:01Z',
    data: {
      sale_id: saleId,
      business_id: 5,
      customer_id: customerId,
      total_amount: '2500.00',
      items_count: 3,
      payment_method: 'mpesa',
      completed_at: '2026-11-26T09:59:00Z',
    },
  }
}

t.test('development: a sale signed with DATA_DIR/dev-webhook-secret is processed', async (t) => {
  const dataDir = tempDir()
  const config = configFrom({
    NODE_ENV: 'development',
    DATA_DIR: dataDir,
    JWT_SECRET: TEST_JWT_SECRET,
  })
  const secret = readFileSync(devWebhookSecretPath(dataDir), 'utf8').trim()
  const { inject } = await build(t, { config })

  const created = await inject({
    method: 'POST',
    url: '/api/customers/5',
    headers: authFor(5),
    payload: { name: 'Wanjiru Kamau' },
  })
  t.equal(created.statusCode, 201, 'customer created')
  const customerId = created.json<{ customer: { id: number } }>().customer.id

  const sale = completedSale(customerId, `S-dev-${customerId}`)
  const answer = await inject(signedEvent(sale, secret))
  t.equal(answer.statusCode, 200, 'the sale is accepted')
  t.same(
    answer.json(),
    { status: 'processed', event_id: sale.id, customer_id: customerId },
    'and processed',
  )

  const history = await inject({
    method: 'GET',
    url: `/api/customers/5/${customerId}/history`,
    headers: authFor(5),
  })
  t.match(
    history.json(),
    { sales: [{ sale_id: sale.data.sale_id, total_amount: '2500.00' }], total: 1 },
    "the customer's history shows it",
  )

  const unsigned = await inject(signedEvent(completedSale(customerId, 'S-other'), 'x'.repeat(32)))
  t.equal(unsigned.statusCode, 401, 'another secret is still refused')
})

t.test('production without SALES_WEBHOOK_SECRET refuses every sale, as before', async (t) => {
  const dataDir = tempDir()
  const config = configFrom({
    NODE_ENV: 'production',
    DATA_DIR: dataDir,
    JWT_SECRET: TEST_JWT_SECRET,
  })
  t.notOk(existsSync(devWebhookSecretPath(dataDir)), 'no development secret is made')
  const { inject } = await build(t, { config })
  const created = await inject({
    method: 'POST',
    url: '/api/customers/5',
    headers: authFor(5),
    payload: { name: 'Otieno Ouma' },
  })
  const customerId = created.json<{ customer: { id: number } }>().customer.id
  const developmentSecret = readFileSync(devWebhookSecretPath(tempDirWithDevSecret()), 'utf8')
  for (const secret of [developmentSecret.trim(), 'y'.repeat(32)]) {
    const answer = await inject(
      signedEvent(completedSale(customerId, `S-prod-${secret[0]}`), secret),
    )
    t.equal(answer.statusCode, 401, 'refused: 401')
    t.equal(answer.json<{ error: string }>().error, 'Invalid signature', 'Invalid signature')
  }
})

/** A DATA_DIR where a development start made its webhook secret. */
function tempDirWithDevSecret(): string {
  const dataDir = tempDir()
  loadConfig({ NODE_ENV: 'development', DATA_DIR: dataDir, JWT_SECRET: TEST_JWT_SECRET })
  return dataDir
}
