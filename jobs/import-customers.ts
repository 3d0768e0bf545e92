import type { JobDefinition, JobPayloads } from '../db/job-queue.js'
import { failImport, runImport } from '../services/import-batches.js'

const RETRIES = 5

/**
 * An import's batches (services/import-batches.ts). A worker that dies mid-import stops its
 * heartbeat, and the queue gives the job to a worker again within about 40 s; the next attempt
 * resumes after the last committed batch. After the last retry the import is `failed`.
 */
export const importCustomers: JobDefinition<JobPayloads['import-customers']> = {
  retry: { limit: RETRIES, delaySeconds: 5, maxDelaySeconds: 300 },
  heartbeatSeconds: 20,
  expireInSeconds: 3600,
  // A user waits on an import (the CLI's progress bar): it starts within half a second, not two.
  pollingIntervalSeconds: 0.5,
  run: async function importCustomers(db, { businessId, importId }, job) {
    try {
      return await runImport(db, businessId, importId, job.signal)
    } catch (error) {
      // A stop (the queue shutting down) is not a failure of the import: it resumes later.
      if (job.retryCount >= RETRIES && !job.signal.aborted) {
        await failImport(db, businessId, importId)
      }
      throw error
    }
  },
}
