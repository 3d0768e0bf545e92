/**
 * `npm run worker`: the job queue's workers and schedules alone, no HTTP server — beside API-only
 * instances (`WORKERS=false`) on the same DATABASE_URL. SIGTERM/SIGINT: stop fetching, let
 * running jobs finish (at most SHUTDOWN_TIMEOUT_MS), close the database, exit 0.
 */
import closeWithGrace from 'close-with-grace'
import { pino } from 'pino'
import { connectDatabase, databaseTargetOf } from '../db/connect.js'
import { createJobQueue } from '../db/job-queue.js'
import { describePlan, migrateToLatest } from '../db/migrate.js'
import { JOBS } from '../jobs/index.js'
import { outboundFor } from '../lib/outbound/outbound.js'
import { ConfigError, loadConfig, type Config } from '../lib/config.js'
import { DataDirectoryInUse } from '../lib/data-dir-lock.js'
import { loggerOptions, prettyAvailable } from '../server-options.js'
import { parseCommandLine } from './cli.js'

parseCommandLine({
  command: 'npm run worker',
  summary:
    "Runs the job queue's workers and schedules without the HTTP server, on DATABASE_URL (or the embedded database in DATA_DIR, when the service is not running on it), until SIGTERM or SIGINT. Brings the database to the latest migration first, as the service does. See docs/job-queue.md.",
  options: {},
})

let config: Config
try {
  config = loadConfig()
} catch (error) {
  console.error(error instanceof ConfigError ? error.message : (error as Error).message)
  process.exit(1)
}
const log = pino(
  loggerOptions({
    logLevel: config.logLevel,
    logDir: config.logDir,
    pretty: config.env === 'development' && process.stdout.isTTY && prettyAvailable(),
  }),
)

let connection
try {
  connection = await connectDatabase(databaseTargetOf(config))
} catch (error) {
  if (!(error instanceof DataDirectoryInUse)) throw error
  console.error(`${error.message} (npm start runs the workers itself)`)
  process.exit(1)
}
const database = connection
await migrateToLatest(database.db, {
  planned: (steps) => log.info(describePlan(steps)),
  step: (line) => log.info(line),
})
const queue = createJobQueue(database, JOBS, {
  workers: true,
  log,
  // Deliveries from this process are not counted in any /metrics (the service's count its own).
  deliveries: {
    outbound: outboundFor(config.env),
    retryBaseMs: config.webhookRetryBaseMs,
    onError: (error) => log.warn({ err: error }, 'webhook delivery round failed'),
  },
})

closeWithGrace(
  { delay: config.shutdownTimeoutMs, logger: { error: (message: unknown) => log.error(message) } },
  async function shutDown({ signal, err }) {
    if (err) log.error({ err }, 'stopping the workers after an unexpected error')
    else log.info({ signal }, 'stopping the workers')
    await queue.stop(config.shutdownTimeoutMs)
    await database.close()
  },
)

await queue.start()
const where = config.databaseUrl
  ? 'PostgreSQL (DATABASE_URL)'
  : `embedded PostgreSQL in ${config.dataDir}`
console.log(`PayMe Customers workers running on ${where}: ${queue.names.join(', ')}`)
