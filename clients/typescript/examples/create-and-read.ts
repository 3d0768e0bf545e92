/**
 * Creates a customer and reads it back through the typed client.
 *
 *   export PAYME_TOKEN=$(npm run -s token -- --sub 1 --business 5)
 *   npm run example:client        # from the repository root; PAYME_URL defaults to localhost:3000
 */
import { createPayMeClient } from '../index.js'

const token = process.env.PAYME_TOKEN
if (!token) {
  console.error(
    'PAYME_TOKEN is not set: export PAYME_TOKEN=$(npm run -s token -- --sub 1 --business 5)',
  )
  process.exit(2)
}
const baseUrl = process.env.PAYME_URL ?? 'http://localhost:3000'
const businessId = Number(process.env.PAYME_BUSINESS ?? 5)

const api = createPayMeClient({ baseUrl, token })

/** Creates, reads back and prints; the exit code for the shell. */
async function main(): Promise<number> {
  const created = await api.POST('/api/customers/{businessId}', {
    params: { path: { businessId } },
    body: { name: 'Wanjiru Kamau', phone: '0712 345 678', customer_type: 'regular' },
  })
  if (!created.data) {
    console.error(
      `create: ${created.response.status} ${created.error?.error} ${created.error?.message ?? ''}`,
    )
    return 1
  }
  console.log(`created: ${JSON.stringify(created.data.customer, null, 2)}`)

  const read = await api.GET('/api/customers/{businessId}/{customerId}', {
    params: { path: { businessId, customerId: created.data.customer.id } },
  })
  if (!read.data) {
    console.error(`read: ${read.response.status} ${read.error?.error} ${read.error?.message ?? ''}`)
    return 1
  }
  console.log(`read back: ${JSON.stringify(read.data.customer, null, 2)}`)
  return 0
}

main().then(
  (code) => (process.exitCode = code),
  (error: unknown) => {
    console.error(
      `no answer from ${baseUrl} (${String(error)}); is the service running (npm start)?`,
    )
    process.exitCode = 1
  },
)
