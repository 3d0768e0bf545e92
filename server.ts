import Fastify from 'fastify'
import app from './app.js'
import { ConfigError, loadConfig, type Config } from './lib/config.js'
import { serverOptions } from './server-options.js'

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
  const server = Fastify(serverOptions({ logLevel: config.logLevel }))
  await server.register(app, { config })

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      server.log.info({ signal }, 'shutting down')
      server.close().then(
        () => process.exit(0),
        () => process.exit(1),
      )
    })
  }

  const address = await server.listen({ port: config.port, host: config.host })
  console.log(describeStart(config, address.replace('127.0.0.1', 'localhost')))
}

await main()
