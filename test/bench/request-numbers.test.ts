import t from 'tap'
import { requestNumbers } from '../../bench/request-numbers.js'
import { SCENARIOS, type Fixture } from '../../bench/scenarios.js'

const fixture: Fixture = {
  businessId: 5,
  customerIds: [11, 12, 13, 14, 15, 16, 17],
  phoneFragments: ['0712'],
  customerPhones: ['+254712000001'],
  emailFragments: ['mail'],
  webhookSecret: 'bench-test-secret',
  busyCustomerId: 11,
}

const scenario = (name: string) => {
  const found = SCENARIOS.find((candidate) => candidate.name === name)
  if (!found) throw new Error(`no scenario ${name}`)
  return found
}

/** What one load of `count` requests sends, numbered by `take`. */
const load = (name: string, take: (scenario: string) => number, count: number) =>
  Array.from({ length: count }, () => {
    const request = scenario(name).request(fixture, take(name))
    return JSON.parse(request.body ?? '{}') as Record<string, unknown>
  })

t.test('a scenario numbers its requests on across its loads, apart from the others', async (t) => {
  const take = requestNumbers()
  t.same([take('a'), take('a'), take('b'), take('a'), take('b')], [0, 1, 0, 2, 1])
})

t.test('a warm-up and the recorded load send different sales and customers', async (t) => {
  const take = requestNumbers()
  const saleIds = (name: string) =>
    [...load(name, take, 50), ...load(name, take, 50)].map((event) => event.id)
  for (const name of [
    'webhook, distinct customers',
    'webhook, one customer',
    'webhook, payer match',
  ]) {
    const ids = saleIds(name)
    t.equal(new Set(ids).size, ids.length, `${name}: no event sent twice`)
  }
  for (const name of ['create customer', 'create customer with Idempotency-Key']) {
    const customers = [...load(name, take, 50), ...load(name, take, 50)]
    t.equal(
      new Set(customers.map((c) => c.phone)).size,
      customers.length,
      `${name}: no phone twice`,
    )
    t.equal(new Set(customers.map((c) => c.name)).size, customers.length, `${name}: no name twice`)
  }
})
