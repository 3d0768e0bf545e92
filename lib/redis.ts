import type { FastifyBaseLogger } from 'fastify'
import type { Redis } from 'ioredis'

/**
 * A Redis client that never holds a request up: while Redis is away, commands fail at once
 * (the rate limiter then lets requests through uncounted) and the client keeps reconnecting.
 * Start-up does not wait for Redis either; the outage and the recovery are logged once each.
 */
export async function connectRedis(url: string, log: FastifyBaseLogger): Promise<Redis> {
  // Loaded only with REDIS_URL: without it the process never holds ioredis's code.
  const { Redis } = await import('ioredis')
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 1000,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    connectionName: 'payme-customers',
  })
  let reachable = true
  redis.on('error', (error: Error) => {
    if (!reachable) return
    reachable = false
    log.error({ err: error }, 'Redis is unreachable: rate limits are not counted until it answers')
  })
  redis.on('ready', () => {
    if (!reachable) log.info('Redis answers again: rate limits are counted')
    reachable = true
  })
  try {
    await redis.connect()
  } catch {
    // Already logged by the error listener; ioredis keeps retrying in the background.
  }
  return redis
}
