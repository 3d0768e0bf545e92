import closeWithGrace from 'close-with-grace'
import Fastify from 'fastify'
import app from './app.js'
import { databaseTargetOf } from './db/connect.js'
import { ConfigError, loadConfig, type Config } from './lib/config.js'
import { assertDataDirectoryFree, DataDirectoryInUse } from './lib/data-dir-lock.js'
import { assertPortFree, PortUnavailable } from './lib/port-check.js'
import { startProbeServer, type ProbeServer } from './lib/probe-server.js'
import { prettyAvailable, serverOptions } from './server-options.js'

/** http://localhost:3000 for a person to paste, when the service listens on 127.0.0.1. */
const shown = (address: string): string => address.replace('127.0.0.1', 'localhost')

function describeStart(config: Config, address: string, probes?: ProbeServer): string {
  const database =
    config.databaseUrl !== undefined
      ? 'PostgreSQL (DATABASE_URL)'
      : `embedded PostgreSQL in ${config.dataDir}/pgdata`
  const lines = [
    `PayMe Customers listening on ${address}`,
    `  Database:   ${database}`,
    `  Docs:       ${address}/docs   (contract: ${address}/openapi.json)`,
  ]
  if (probes) {
    const probeAddress = shown(
      `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${probes.port}`,
    )
    lines.push(`  Probes:     ${probeAddress}/health and /ready (worker thread)`)
  }
  const devJwtPath =
    config.jwt.kind === 'secret' && config.jwt.source === 'dev-file' ? config.jwt.path : undefined
  if (devJwtPath) {
    lines.push(`  Dev token:  npm run token -- --sub 1 --business 5   (signed with ${devJwtPath})`)
  }
  if (config.salesWebhookSecretFile) {
    lines.push(
      `  Dev sale:   npm run sale -- --business 5 --customer 1 --amount 2500.00   (signed with ${config.salesWebhookSecretFile})`,
    )
  }
  if (devJwtPath || config.salesWebhookSecretFile) {
    lines.push(
      `  Deleting ${config.dataDir} makes new development secrets: tokens made before stop working (401).`,
    )
  }
  return lines.join('\n')
}

/** A start that cannot go on, told in one line: bad configuration, data folder or port taken. */
function exitIfRefused(error: unknown): void {
  if (
    error instanceof ConfigError ||
    error instanceof DataDirectoryInUse ||
    error instanceof PortUnavailable
  ) {
    console.error(error.message)
    process.exit(1)
  }
}

/**
 * Before anything opens the database: the embedded data folder must not be held by another
 * process and the port must be free. (The folder's lock itself is taken when the database opens.)
 */
async function checkNothingHolds(config: Config): Promise<void> {
  const target = databaseTargetOf(config)
  if (target.kind === 'embedded' && !target.path.startsWith('memory://')) {
    await assertDataDirectoryFree(target.path)
  }
  await assertPortFree(config.host, config.port)
  if (config.probePort !== undefined) {
    await assertPortFree(config.host, config.probePort, 'PROBE_PORT')
  }
}

/** Connections the kernel queues for accept (Node's default is 511). */
const LISTEN_BACKLOG = 4096

async function main(): Promise<void> {
  let config: Config
  try {
    config = loadConfig()
    await checkNothingHolds(config)
  } catch (error) {
    exitIfRefused(error)
    throw error
  }
  const server = Fastify(
    serverOptions({
      logLevel: config.logLevel,
      logDir: config.logDir,
      pretty: config.env === 'development' && process.stdout.isTTY && prettyAvailable(),
      trustProxy: config.trustProxy,
    }),
  )
  // While closing, every answer ends its connection: a keep-alive client (a load balancer)
  // would otherwise hold the close open until its idle timeout.
  let closing = false
  server.addHook('preClose', async function markClosing() {
    closing = true
  })
  server.addHook('onSend', async function endConnectionWhenClosing(_request, reply) {
    if (closing) reply.header('connection', 'close')
  })
  try {
    await server.register(app, {
      config,
      // A person reads development start-up; production keeps every line in the JSON log.
      progress: config.env === 'production' ? undefined : (line) => console.log(line),
    })
  } catch (error) {
    // Another process took the data folder between the check and the lock.
    exitIfRefused(error)
    throw error
  }

  let probes: ProbeServer | undefined
  // From the moment the service stops taking requests, the probe port's /ready says so too.
  server.addHook('preClose', async function probesNotReady() {
    probes?.setDatabaseOpen(false)
  })

  // SIGTERM/SIGINT: stop accepting connections, let requests in flight finish (at most
  // SHUTDOWN_TIMEOUT_MS, then exit 1), close the database pool and Redis, and the probe
  // server's thread, exit 0.
  closeWithGrace(
    {
      delay: config.shutdownTimeoutMs,
      logger: { error: (message: unknown) => server.log.error(message) },
    },
    async function shutDown({ signal, err }) {
      if (err) server.log.error({ err }, 'closing after an unexpected error')
      else server.log.info({ signal }, 'shutting down')
      await server.close()
      await probes?.close()
    },
  )

  const address = await server.listen({
    port: config.port,
    host: config.host,
    // A burst of connections waits to be accepted (then answered, or shed at once) rather than
    // being reset by the kernel; the system's somaxconn caps it.
    backlog: LISTEN_BACKLOG,
  })
  if (config.probePort !== undefined) {
    try {
      probes = await startProbeServer({
        host: config.host,
        port: config.probePort,
        databaseUrl: config.databaseUrl,
        log: server.log,
      })
    } catch (error) {
      // Another process took the probe port between the check and now.
      await server.close()
      exitIfRefused(error)
      throw error
    }
    // The database was opened (and migrated) while the app was registered.
    probes.setDatabaseOpen(true)
  }
  console.log(describeStart(config, shown(address), probes))
}

await main()
