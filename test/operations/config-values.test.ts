import t from 'tap'
import { loadConfig } from '../../lib/config.js'

const base = { DATA_DIR: '/tmp/payme-config-values', JWT_SECRET: 'x'.repeat(32) }

t.test(
  'the operations variables: defaults, and good values as the service reads them',
  async (t) => {
    const cases: {
      name: string
      variables: Record<string, string>
      expected: Record<string, unknown>
    }[] = [
      {
        name: 'defaults',
        variables: {},
        expected: {
          probePort: undefined,
          logDir: undefined,
          redisUrl: undefined,
          corsOrigins: [],
          rateLimitMax: 600,
          rateLimitWebhookMax: 6000,
          trustProxy: false,
          shutdownTimeoutMs: 10000,
          workers: true,
        },
      },
      {
        name: 'everything set',
        variables: {
          PROBE_PORT: '3001',
          LOG_DIR: '/var/log/payme',
          REDIS_URL: 'rediss://:secret@redis.internal:6380/2',
          CORS_ORIGINS: 'https://shop.payme.co.ke, http://localhost:5173',
          RATE_LIMIT_MAX: '1200',
          RATE_LIMIT_WEBHOOK_MAX: '20000',
          TRUST_PROXY: '10.0.0.0/8,loopback,fd00::/8',
          SHUTDOWN_TIMEOUT_MS: '25000',
          WORKERS: 'false',
        },
        expected: {
          probePort: 3001,
          logDir: '/var/log/payme',
          redisUrl: 'rediss://:secret@redis.internal:6380/2',
          corsOrigins: ['https://shop.payme.co.ke', 'http://localhost:5173'],
          rateLimitMax: 1200,
          rateLimitWebhookMax: 20000,
          trustProxy: ['10.0.0.0/8', 'loopback', 'fd00::/8'],
          shutdownTimeoutMs: 25000,
          workers: false,
        },
      },
      {
        name: 'TRUST_PROXY=true',
        variables: { TRUST_PROXY: 'true' },
        expected: { trustProxy: true },
      },
      { name: 'TRUST_PROXY hops', variables: { TRUST_PROXY: '2' }, expected: { trustProxy: 2 } },
      {
        name: 'TRUST_PROXY=false',
        variables: { TRUST_PROXY: 'false' },
        expected: { trustProxy: false },
      },
    ]
    for (const { name, variables, expected } of cases) {
      const config = loadConfig({ ...base, ...variables })
      for (const [key, value] of Object.entries(expected)) {
        t.strictSame(config[key as keyof typeof config], value, `${name}: ${key}`)
      }
    }
  },
)
