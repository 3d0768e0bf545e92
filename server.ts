import closeWithGrace from 'close-with-grace'
import Fastify from 'fastify'
import app from './app.js'
import { ConfigError, loadConfig, type Config } from './lib/config.js'
import { prettyAvailable, serverOptions } from './server-options.js'

function describeStart(config: Config, address: string): string {
  const database =
    config.databaseUrl !== undefined
      ? 'PostgreSQL (DATABASE_URL)'
      : `embedded PostgreSQL in ${config.dataDir}/pgdata`
  const tokenHint =
    config.jwt.kind === 'secret' && config.jwt.source === 'dev-file'
      ? `\n  Dev token:  npm run token -- --sub 1 --business 5   (signed with ${config.jwt.path})`
      : ''
  return (
    [
      `PayMe Customers listening on ${address}`,
      `  Database:   ${database}`,
      `  Docs:       ${address}/docs   (contract: ${address}/openapi.json)`,
    ].join('\n') + tokenHint
  )
}

/** Connections the kernel queues for accept (Node's default is 511). */
const LISTEN_BACKLOG = 4096

async function main(): Promise<void> {
  let config: Config
  try {
    config = loadConfig()
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message)
      process.exit(1)
    }
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
  await server.register(app, { config })

  // SIGTERM/SIGINT: stop accepting connections, let requests in flight finish (at most
  // SHUTDOWN_TIMEOUT_MS, then exit 1), close the database pool and Redis, exit 0.
  closeWithGrace(
    {
      delay: config.shutdownTimeoutMs,
      logger: { error: (message: unknown) => server.log.error(message) },
    },
    async function shutDown({ signal, err }) {
      if (err) server.log.error({ err }, 'closing after an unexpected error')
      else server.log.info({ signal }, 'shutting down')
      await server.close()
    },
  )

  const address = await server.listen({
    port: config.port,
    host: config.host,
    // A burst of connections waits to be accepted (then answered, or shed at once) rather than
    // being reset by the kernel; the system's somaxconn caps it.
    backlog: LISTEN_BACKLOG,
  })
  console.log(describeStart(config, address.replace('127.0.0.1', 'localhost')))
}

await main()
