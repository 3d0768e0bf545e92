import type { JobDefinition, JobPayloads } from '../db/job-queue.js'
import { failImport, runImport } from '../services/import-batches.js'

const RETRIES = 5

/**
 * An import's batches (services/import-batches.ts). A worker that dies mid-import stops its
 * heartbeat, and the queue gives the job to a worker again within a minute; the next attempt
 * resumes after the last committed batch. After the last retry the import is `failed`.
 */
export const importCustomers: JobDefinition<JobPayloads['import-customers']> = {
  retry: { limit: RETRIES, delaySeconds: 5, maxDelaySeconds: 300 },
  heartbeatSeconds: 30,
  expireInSeconds: 3600,
  run: async function importCustomers(db, { businessId, importId }, job) {
    try {
      return await runImport(db, businessId, importId, job.signal)
    } catch (error) {
      if (job.retryCount >= RETRIES) await failImport(db, businessId, importId)
      throw error
    }
  },
}
