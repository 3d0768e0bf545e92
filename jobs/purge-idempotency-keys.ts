import type { JobDefinition, JobPayloads } from '../db/job-queue.js'
import { purgeExpiredKeys } from '../services/idempotency.js'

/**
 * Every minute, expired Idempotency-Key records (24 hours old) go, in small batches; what is
 * left after the batch limit goes a minute later. One at a time across every instance, and no
 * retry: the next minute's run is the retry.
 */
export const purgeIdempotencyKeys: JobDefinition<JobPayloads['purge-idempotency-keys']> = {
  cron: '* * * * *',
  oneAtATime: true,
  retry: { limit: 0 },
  expireInSeconds: 60,
  run: async function purge(db) {
    return { purged: await purgeExpiredKeys(db) }
  },
}
