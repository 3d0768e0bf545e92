import type { JobDefinitions } from '../db/job-queue.js'
import { deliverWebhooks } from './deliver-webhooks.js'
import { importCustomers } from './import-customers.js'
import { purgeIdempotencyKeys } from './purge-idempotency-keys.js'

/**
 * Every job the service runs, by name (the names and their data are declared in
 * db/job-queue.ts `JobPayloads`, where `enqueue` reads them). A job calls services, as a route
 * does; the queue runs it with the database.
 */
export const JOBS: JobDefinitions = {
  'purge-idempotency-keys': purgeIdempotencyKeys,
  'import-customers': importCustomers,
  'deliver-webhooks': deliverWebhooks,
}
