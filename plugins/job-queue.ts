import fp from 'fastify-plugin'
import { createJobQueue, type JobQueue, type SomeJobDefinitions } from '../db/job-queue.js'
import { JOBS } from '../jobs/index.js'
import { connectionOf } from './db.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The job queue (db/job-queue.ts): started with the app, stopped when it closes. */
    jobQueue: JobQueue
  }
}

export interface JobQueuePluginOptions {
  /** The jobs to run; the service's (jobs/index.ts) unless given (a test's own). */
  jobs?: SomeJobDefinitions
  /** How often an idle worker asks for a job, in seconds (2 unless given). */
  pollingIntervalSeconds?: number
}

/**
 * The job queue on the app's database. Every instance starts it, so requests can enqueue in their
 * transactions; with `WORKERS` (the default) this process also runs the jobs and the schedules.
 * If the database cannot be reached at start-up, the queue retries in the background. On close,
 * after the HTTP server has stopped, running jobs get SHUTDOWN_TIMEOUT_MS to finish
 * before the database closes (a job cut off is retried by another instance or the next start).
 */
export default fp(
  async function jobQueuePlugin(app, options: JobQueuePluginOptions) {
    const queue = createJobQueue(connectionOf(app.db), options.jobs ?? JOBS, {
      workers: app.config.workers,
      log: app.log,
      pollingIntervalSeconds: options.pollingIntervalSeconds,
      // Without the outbound plugin (a test's bare app) this process delivers no webhooks.
      deliveries: app.hasDecorator('outbound')
        ? {
            outbound: app.outbound,
            retryBaseMs: app.config.webhookRetryBaseMs,
            // service-metrics registers after the queue; the deliveries count once it has.
            observe: (outcome, lagSeconds) =>
              app.serviceMetrics.observeDelivery(outcome, lagSeconds),
            onError: (error) => app.log.warn({ err: error }, 'webhook delivery round failed'),
          }
        : undefined,
    })
    // An unreachable database does not stop the service starting: the queue keeps trying.
    await queue.startOrRetry()
    app.decorate('jobQueue', queue)
    // Registered after the db plugin, so this runs before the database closes.
    app.addHook('onClose', async () => {
      await queue.stop(app.config.shutdownTimeoutMs)
    })
  },
  { name: 'job-queue', dependencies: ['config', 'db'] },
)
