import { createHash } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import type { SalesHistory } from '../../generated/schemas/SalesHistory.js'
import { TEST_JWT_SECRET, TEST_WEBHOOK_SECRET, authFor, build } from '../helper.js'
import { createCustomerId } from '../support/customers.js'
import { runScript } from './run-script.js'

const BUSINESS = 5

t.test('npm run sale against a running service', async (t) => {
  const { app, inject } = await build(t)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  const customerId = await createCustomerId(inject, BUSINESS, { name: 'Akinyi Otieno' })
  const env = { SALES_WEBHOOK_SECRET: TEST_WEBHOOK_SECRET, JWT_SECRET: TEST_JWT_SECRET }
  const sale = (args: string[], environment = env) =>
    runScript(
      'scripts/sale.ts',
      ['--business', String(BUSINESS), '--customer', String(customerId), '--url', url, ...args],
      environment,
    )
  const history = async () => {
    const res = await inject({
      method: 'GET',
      url: `/api/customers/${BUSINESS}/${customerId}/history`,
      headers: authFor(BUSINESS),
    })
    t.equal(res.statusCode, 200, 'history: 200')
    return res.json<SalesHistory>()
  }

  const completed = await sale(['--amount', '2500.00', '--items', '3'])
  t.equal(completed.code, 0, `completed: exit 0 (${completed.stderr})`)
  const saleId = /of sale (S-\S+) /.exec(completed.stdout)?.[1] ?? ''
  t.match(saleId, /^S-/, 'completed: the new sale id is printed')
  t.match(
    completed.stdout,
    new RegExp(
      `\\n200 \\{"status":"processed","event_id":"evt_[0-9a-f]+","customer_id":${customerId}\\}\\n$`,
    ),
    'processed',
  )
  const afterCompletion = await history()
  t.same(
    afterCompletion.sales.map((s) => [s.sale_id, s.total_amount, s.status, s.payment_method]),
    [[saleId, '2500.00', 'completed', 'mpesa']],
    "the customer's history shows the sale",
  )
  t.equal(Number(afterCompletion.sales[0]?.items_count), 3, 'with its items')

  const refunded = await sale(['--type', 'refunded', '--sale', saleId, '--amount', '500.00'])
  t.equal(refunded.code, 0, `refunded: exit 0 (${refunded.stderr})`)
  t.match(refunded.stdout, /\n200 \{"status":"processed"/, 'refunded: processed')
  const afterRefund = await history()
  t.same(afterRefund.sales[0]?.refunded_amount, '500.00', 'refunded amount')
  t.same(afterRefund.summary.total_amount, '2000.00', 'net of the refund')

  const voided = await sale(['--type', 'voided', '--sale', saleId])
  t.equal(voided.code, 0, `voided: exit 0 (${voided.stderr})`)
  t.same((await history()).sales[0]?.status, 'voided', 'voided')

  // An M-Pesa payer instead of a customer: waits, then goes to the customer who registers.
  const payerSale = (args: string[]) =>
    runScript('scripts/sale.ts', ['--business', String(BUSINESS), '--url', url, ...args], env)
  const waiting = await payerSale(['--payer', '0745 111 222', '--amount', '300.00'])
  t.equal(waiting.code, 0, `payer, unregistered: exit 0 (${waiting.stderr})`)
  t.match(waiting.stdout, /no customer, payer given/, 'the line says no customer, a payer')
  t.match(waiting.stdout, /\n200 \{"status":"unattributed"/, 'unattributed')
  const registered = await createCustomerId(inject, BUSINESS, {
    name: 'Registers Later',
    phone: '+254745111222',
  })
  const hashed = await payerSale([
    '--amount',
    '20.00',
    '--payer',
    createHash('sha256').update('254745111222').digest('hex'),
  ])
  t.match(
    hashed.stdout,
    `"customer_id":${registered},"matched_by":"phone_sha256"`,
    'a 64-hex payer is sent as phone_sha256 and matches',
    { stderr: hashed.stderr },
  )

  const stranger = await runScript(
    'scripts/sale.ts',
    ['--business', String(BUSINESS), '--customer', '999999', '--amount', '10.00', '--url', url],
    env,
  )
  t.equal(stranger.code, 1, 'a customer not in the business: exit 1')
  t.match(stranger.stdout, /\n422 \{/, 'and the 422 answer printed')

  const otherSecret = await sale(['--amount', '10.00'], {
    ...env,
    SALES_WEBHOOK_SECRET: 'not-the-secret-of-the-service',
  })
  t.equal(otherSecret.code, 1, 'another secret: exit 1')
  t.match(otherSecret.stdout, /\n401 \{/, 'the 401 printed')
  t.match(otherSecret.stderr, /must run with the SALES_WEBHOOK_SECRET this script used/, 'a hint')
})

t.test('without a webhook secret: one line saying to set it, exit 1', async (t) => {
  // Production: no development secret is made for it.
  const run = await runScript(
    'scripts/sale.ts',
    ['--business', '5', '--customer', '1', '--amount', '10.00', '--url', 'http://127.0.0.1:9'],
    { NODE_ENV: 'production', JWT_SECRET: TEST_JWT_SECRET },
  )
  t.equal(run.code, 1, 'exit 1')
  t.match(run.stderr, /^SALES_WEBHOOK_SECRET is not set: set it to /, 'says what to set')
  t.equal(run.stderr.trimEnd().split('\n').length, 1, 'one line')
  t.equal(run.stdout, '', 'nothing sent')
})
