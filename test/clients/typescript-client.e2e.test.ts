import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import t from 'tap'
import { createPayMeClient } from '../../clients/typescript/index.js'
import { sign } from '../../lib/webhook-signature.js'
import { TEST_WEBHOOK_SECRET } from '../helper.js'
import { baseEnvironment } from '../operations/server-process.js'
import { startFreshService } from '../support/fresh-service.js'

const run = promisify(execFile)
const BUSINESS = 5

/**
 * The real server as `npm start` runs it — embedded PostgreSQL in a fresh DATA_DIR, the
 * development secret it makes itself, a token from `npm run token` — driven only through the
 * generated client: along the main journey of a shop, and by the package's own example.
 */
const service = await startFreshService(t, { SALES_WEBHOOK_SECRET: TEST_WEBHOOK_SECRET })
const { stdout: tokenOutput } = await run(
  process.execPath,
  ['--import', 'tsx', 'scripts/token.ts', '--sub', '7', '--business', String(BUSINESS)],
  { env: { ...process.env, DATA_DIR: service.dataDir } },
)
const token = tokenOutput.trim()

t.test('the generated client drives the main journey against the real server', async (t) => {
  const baseUrl = service.url
  const api = createPayMeClient({ baseUrl, token })
  const path = { businessId: BUSINESS }

  const created = await api.POST('/api/customers/{businessId}', {
    params: { path },
    body: { name: 'Journey Customer', phone: '0712 000 111', customer_type: 'regular' },
  })
  t.equal(created.response.status, 201, 'create: 201')
  const customer = created.data?.customer
  if (!customer) throw new Error(`create failed: ${JSON.stringify(created.error)}`)
  t.equal(customer.phone, '+254712000111', 'create: phone in E.164')
  const customerPath = { ...path, customerId: customer.id }

  const note = await api.POST('/api/customers/{businessId}/{customerId}/notes', {
    params: { path: customerPath },
    body: { note_type: 'preference', content: 'Pays by M-Pesa' },
  })
  t.equal(note.response.status, 201, 'note: 201')
  t.equal(note.data?.note.created_by, 7, 'note: created_by is the token subject')

  const preferences = await api.PATCH('/api/customers/{businessId}/{customerId}/preferences', {
    params: { path: customerPath },
    body: { favorite_products: [12, 7], preferred_payment: 'mpesa' },
  })
  t.equal(preferences.response.status, 200, 'preferences: 200')
  t.same(preferences.data?.preferences.favorite_products, [12, 7], 'preferences: stored')

  for (const [index, amount] of ['2500.00', '1200.50'].entries()) {
    const event = {
      id: `journey-${index}`,
      type: 'sale.completed' as const,
      created_at: new Date().toISOString(),
      data: {
        sale_id: `J-${index}`,
        business_id: BUSINESS,
        customer_id: customer.id,
        total_amount: amount,
        items_count: 2,
        payment_method: 'mpesa' as const,
        completed_at: new Date(Date.now() - index * 86_400_000).toISOString(),
      },
    }
    const body = JSON.stringify(event)
    const timestamp = Math.floor(Date.now() / 1000)
    const sale = await api.POST('/webhooks/sales', {
      params: {
        header: {
          'PayMe-Signature': `t=${timestamp},v1=${sign(TEST_WEBHOOK_SECRET, timestamp, body)}`,
        },
      },
      body: event,
      // The signature covers these exact bytes.
      bodySerializer: () => body,
    })
    t.equal(sale.response.status, 200, `sale ${index}: 200`)
    t.equal(sale.data?.status, 'processed', `sale ${index}: processed`)
  }

  const metrics = await api.GET('/api/customers/{businessId}/{customerId}/metrics', {
    params: { path: customerPath },
  })
  t.equal(metrics.response.status, 200, 'metrics: 200')
  const figures = metrics.data?.metrics
  t.same(
    figures && [
      figures.total_purchases,
      figures.total_spent,
      figures.loyalty_tier,
      figures.is_repeat_customer,
    ],
    [2, '3700.50', 'occasional', true],
    'metrics: both sales counted',
  )

  const repeat = await api.GET('/api/customers/{businessId}/repeat', { params: { path } })
  t.equal(repeat.response.status, 200, 'repeat: 200')
  t.same(
    repeat.data?.customers.map((entry) => entry.id),
    [customer.id],
    'repeat: the customer',
  )

  const analytics = await api.GET('/api/customers/{businessId}/analytics', { params: { path } })
  t.equal(analytics.response.status, 200, 'analytics: 200')
  const summary = analytics.data?.analytics
  t.same(
    summary && [
      summary.total_customers,
      summary.active_customers,
      summary.repeat_customers,
      summary.repeat_customer_rate,
    ],
    [1, 1, 1, 100],
    'analytics: one repeat customer of one',
  )

  const deleted = await api.DELETE('/api/customers/{businessId}/{customerId}', {
    params: { path: customerPath },
  })
  t.equal(deleted.response.status, 200, 'delete: 200')
  t.equal(deleted.data?.customer.is_active, false, 'delete: inactive')

  const missing = await api.GET('/api/customers/{businessId}/{customerId}', {
    params: { path: { ...path, customerId: customer.id + 1000 } },
  })
  t.equal(missing.response.status, 404, 'an unknown customer: 404')
  t.equal(missing.error?.error, 'Customer not found', 'the error body is typed too')
})

t.test('npm run example:client creates a customer and reads it back', async (t) => {
  const env = { ...baseEnvironment({ PAYME_TOKEN: token, PAYME_URL: service.url }) }
  const { stdout } = await run('npm', ['run', '-s', 'example:client'], { env })
  const [created, read] = stdout.split('read back: ')
  const customer = (text: string | undefined): { id: number; name: string; phone: string } =>
    JSON.parse((text ?? '').replace(/^created: /, ''))
  t.match(customer(created), { name: 'Wanjiru Kamau', phone: '+254712345678' }, 'created')
  t.match(
    customer(read),
    { id: customer(created).id, name: 'Wanjiru Kamau', notes: [], history: {} },
    'read back: the same customer, with notes and history',
  )
})

t.test('the example says how to get a token when PAYME_TOKEN is unset', async (t) => {
  const failed = await run('npm', ['run', '-s', 'example:client'], {
    env: baseEnvironment({ PAYME_URL: service.url }),
  }).then(
    () => undefined,
    (error: { code?: number; stderr?: string }) => error,
  )
  t.equal(failed?.code, 2, 'exit code 2')
  t.match(failed?.stderr, /PAYME_TOKEN is not set: export PAYME_TOKEN=\$\(npm run -s token/, 'how')
})
