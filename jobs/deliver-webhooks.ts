import { enqueue, type JobDefinition, type JobPayloads } from '../db/job-queue.js'
import { runDeliveries } from '../services/webhook-deliveries.js'

/** How long one run delivers before it ends and the next begins (within the expiry). */
const RUN_MS = 10 * 60 * 1000

/**
 * The webhook delivery loop (services/webhook-deliveries.ts): one run at a time across every
 * instance, so each endpoint's events leave in order. It starts with the queue and every minute
 * (a no-op while a run is under way), runs ten minutes, and sends its successor before it ends.
 * A worker that dies stops its heartbeat; the run is failed and retried on another instance, and
 * the events sent but not yet logged are sent again (at least once, same ids). A round that fails (the
 * database busy) is retried by the loop a second later. Failed deliveries are retried by the
 * loop itself (webhook_endpoints.next_attempt_at), not by the queue.
 */
export const deliverWebhooks: JobDefinition<JobPayloads['deliver-webhooks']> = {
  cron: '* * * * *',
  oneAtATime: true,
  runAtStart: true,
  // A run that fails anyway (the loop itself survives database errors) starts again soon.
  retry: { limit: 1000, delaySeconds: 1, maxDelaySeconds: 30 },
  // The shortest the queue allows: a dead worker's run is failed, and its successor started, soonest.
  heartbeatSeconds: 10,
  expireInSeconds: 15 * 60,
  run: async function deliverWebhooks(db, _data, job) {
    if (!job.deliveries) throw new Error('deliver-webhooks: this process has no delivery settings')
    // Ends when the queue stops, not when pg-boss gives up waiting for it.
    const signal = job.stopping ? AbortSignal.any([job.signal, job.stopping]) : job.signal
    await runDeliveries(db, job.deliveries, signal, Date.now() + RUN_MS)
    // The successor waits while this run is active and starts as it ends: no gap till the cron.
    if (!signal.aborted) await enqueue(db, 'deliver-webhooks', {})
  },
}
