import underPressure from '@fastify/under-pressure'
import type { FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { isPoolSaturated } from '../lib/database-errors.js'
import { createEpisodeLog } from '../lib/episode-log.js'
import { errorBody, serviceOverloaded } from '../lib/http-errors.js'
import { connectionOf } from './db.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** false: never shed (probes and scrapes must answer whatever the load). */
    loadShedding?: boolean
  }
}

export type ShedReason = 'event_loop_delay' | 'heap_used' | 'database_queue' | 'pool_wait'

const PRESSURE_REASONS: Record<string, ShedReason> = {
  [underPressure.TYPE_EVENT_LOOP_DELAY]: 'event_loop_delay',
  [underPressure.TYPE_HEAP_USED_BYTES]: 'heap_used',
}

const admitted = new WeakSet<FastifyRequest>()

/** under-pressure samples once a second: two samples after start-up reflect traffic again. */
const START_UP_GRACE_MS = 2500

/**
 * Overload answers at once with 503 "Service overloaded" and Retry-After instead of queueing
 * for seconds: when the event loop lags or the heap is full (@fastify/under-pressure,
 * https://github.com/fastify/under-pressure), and when too many requests already wait for a
 * database connection. Distinct from "database unreachable" in the answer, the log (one line
 * per episode) and /metrics (`load_shed_total` by reason). Routes with
 * `config.loadShedding: false` (/health, /ready, /metrics) are never shed.
 */
export default fp(
  async function loadSheddingPlugin(app) {
    const { config } = app
    const pool = connectionOf(app.db).pool
    const episode = createEpisodeLog(app.log, 'Service overloaded: shedding load')
    // Loading and compiling code at start-up delays the event loop; that is not load.
    let steadySince = Number.POSITIVE_INFINITY
    app.addHook('onReady', async () => {
      steadySince = Date.now() + START_UP_GRACE_MS
    })

    /** Every shed request, whatever noticed the overload: counted by reason, logged per episode. */
    function record(reason: ShedReason): void {
      app.serviceMetrics.loadShed.inc({ reason })
      episode({ reason })
    }

    function shed(request: FastifyRequest, reply: FastifyReply, reason: ShedReason) {
      record(reason)
      const problem = serviceOverloaded()
      void reply.code(problem.statusCode).headers(problem.headers)
      return errorBody(problem, request.id)
    }

    await app.register(underPressure, {
      maxEventLoopDelay: config.maxEventLoopDelayMs,
      maxHeapUsedBytes: config.maxHeapUsedBytes,
      pressureHandler: (request, reply, type) => {
        if (request.routeOptions.config.loadShedding === false) return
        if (type === underPressure.TYPE_EVENT_LOOP_DELAY && Date.now() < steadySince) return
        // Answered here; Fastify runs nothing further for a reply already sent.
        void reply.send(shed(request, reply, PRESSURE_REASONS[type] ?? 'event_loop_delay'))
      },
    })

    // A request admitted that then found no pool connection in time: plugins/errors.ts answers
    // it as overloaded; it is counted and logged here, with the others.
    app.addHook('onError', async function countPoolWait(_request, _reply, error) {
      if (isPoolSaturated(error)) record('pool_wait')
    })

    // Waiting for a connection: the pool's own queue on PostgreSQL. Embedded PostgreSQL has no
    // pool; its one connection serves requests in turn, so those in flight are the queue.
    let inFlight = 0
    const waiting = (): number => (pool ? pool.waitingCount : inFlight)

    app.addHook('onRequest', async function admit(request, reply) {
      if (request.routeOptions.config.loadShedding === false) return
      if (waiting() >= config.dbQueueMax) {
        return reply.send(shed(request, reply, 'database_queue'))
      }
      if (pool) return
      admitted.add(request)
      inFlight += 1
    })

    if (!pool) {
      app.addHook('onResponse', async function release(request) {
        if (admitted.delete(request)) inFlight -= 1
      })
    }
  },
  { name: 'load-shedding', dependencies: ['config', 'db', 'service-metrics', 'errors'] },
)
