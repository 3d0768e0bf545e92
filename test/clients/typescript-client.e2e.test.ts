import { execFile } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { promisify } from 'node:util'
import t from 'tap'
import { createPayMeClient } from '../../clients/typescript/index.js'
import { sign } from '../../lib/webhook-signature.js'
import { TEST_WEBHOOK_SECRET } from '../helper.js'
import { runServer } from '../operations/server-process.js'

const run = promisify(execFile)
const BUSINESS = 5

/**
 * The real server as `npm start` runs it — embedded PostgreSQL in a fresh DATA_DIR, the
 * development secret it makes itself, a token from `npm run token` — driven only through the
 * generated client, along the main journey of a shop.
 */
t.test('the generated client drives the main journey against the real server', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'payme-client-'))
  const server = runServer({
    DATA_DIR: dataDir,
    PORT: '0',
    HOST: '127.0.0.1',
    SALES_WEBHOOK_SECRET: TEST_WEBHOOK_SECRET,
  })
  t.teardown(async () => {
    if (server.child.exitCode === null) {
      server.child.kill('SIGTERM')
      await server.exited
    }
  })
  let baseUrl: string | undefined
  for (let waited = 0; !baseUrl && waited < 60_000; waited += 100) {
    baseUrl = /listening on (http:\/\/\S+)/.exec(server.output.stdout)?.[1]
    if (server.child.exitCode !== null) break
    await sleep(100)
  }
  if (!baseUrl) throw new Error(`the server did not start:\n${server.output.stderr}`)
  const { stdout } = await run(
    process.execPath,
    ['--import', 'tsx', 'scripts/token.ts', '--sub', '7', '--business', String(BUSINESS)],
    {
      env: { ...process.env, DATA_DIR: dataDir },
    },
  )
  const api = createPayMeClient({ baseUrl, token: stdout.trim() })
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
