import { randomBytes } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createSigner } from 'fast-jwt'
import Fastify, {
  type FastifyInstance,
  type InjectOptions,
  type LightMyRequestResponse,
} from 'fastify'
import pg from 'pg'
import type { Test } from 'tap'
import app from '../app.js'
import { connectDatabase, type DatabaseConnection } from '../db/connect.js'
import { migrateToLatest } from '../db/migrate.js'
import type { Config } from '../lib/config.js'
import type { OutboundOverrides } from '../lib/outbound/outbound.js'
import { serverOptions } from '../server-options.js'
import { ContractValidator } from './contract.js'
import { loadChoice, withDatabase } from './setup/test-database.js'
import { loadArchive } from './support/pglite.js'
import { captureStatements } from './support/statement-capture.js'

captureStatements()

/** A secret made for this test process; no secret is written in the code. */
export const TEST_JWT_SECRET = randomBytes(32).toString('base64url')

export const TEST_WEBHOOK_SECRET = randomBytes(24).toString('base64url')

export const TEST_CURSOR_SECRET = randomBytes(24).toString('base64url')

export function testConfig(overrides: Partial<Config> = {}): Config {
  return {
    env: 'test',
    port: 0,
    host: '127.0.0.1',
    dataDir: mkdtempSync(join(tmpdir(), 'payme-test-')),
    dbPoolMax: 5,
    dbPoolWaitMs: 3000,
    dbQueueMax: 10_000,
    maxEventLoopDelayMs: 0,
    maxHeapUsedBytes: 0,
    jwt: { kind: 'secret', secret: TEST_JWT_SECRET, source: 'env' },
    salesWebhookSecrets: [TEST_WEBHOOK_SECRET],
    cursorSecrets: [TEST_CURSOR_SECRET],
    logLevel: 'silent',
    corsOrigins: [],
    // Far above any test's traffic; the rate-limit tests set their own.
    rateLimitMax: 1_000_000,
    rateLimitWebhookMax: 1_000_000,
    trustProxy: false,
    shutdownTimeoutMs: 10_000,
    // The queue still starts (requests enqueue); the queue's own tests turn its workers on.
    workers: false,
    webhookRetryBaseMs: 1000,
    ...overrides,
  }
}

export interface TokenClaims {
  sub?: number | string
  businesses?: unknown
  [claim: string]: unknown
}

/** An HS256 token signed with the test secret, valid for an hour unless the claims say otherwise. */
export function tokenFor(claims: TokenClaims, secret = TEST_JWT_SECRET): string {
  const sign = createSigner({ key: secret, algorithm: 'HS256', expiresIn: 3600_000 })
  return sign({ sub: 1, ...claims })
}

export const bearer = (token: string): Record<string, string> => ({
  authorization: `Bearer ${token}`,
})

/** Headers for a user who may act for the given businesses. */
export function authFor(...businesses: number[]): Record<string, string> {
  return bearer(tokenFor({ sub: 1, businesses }))
}

let fileDatabase: Promise<DatabaseConnection> | undefined
let fileDatabaseName: string | undefined
let closeFileDatabase: (() => Promise<void>) | undefined

/** This test file's own database: a clone of the migrated template, or an in-memory PGlite. */
export function testDatabase(): Promise<DatabaseConnection> {
  fileDatabase ??= (async () => {
    // Closed (and dropped) when the file ends, whether or not an app was built on it.
    await registerFileTeardown()
    const choice = loadChoice()
    if (choice.kind === 'embedded') {
      // From the before step's template; a file run on its own makes and migrates its own.
      const loaded = choice.template && (await loadArchive(choice.template.archive))
      if (loaded) {
        closeFileDatabase = loaded.close
        return loaded.connection
      }
      const connection = await connectDatabase({ kind: 'embedded', path: 'memory://' })
      await migrateToLatest(connection.db)
      return connection
    }
    fileDatabaseName = `payme_test_${process.pid}_${randomBytes(4).toString('hex')}`
    const admin = new pg.Client({ connectionString: choice.adminUrl })
    await admin.connect()
    try {
      await admin.query(`create database ${fileDatabaseName} template ${choice.template}`)
    } finally {
      await admin.end()
    }
    return connectDatabase({
      kind: 'postgres',
      url: withDatabase(choice.adminUrl, fileDatabaseName),
      poolMax: 10,
    })
  })()
  return fileDatabase
}

/** Another connection to this file's database (a second app instance, a killer of backends). */
export async function secondConnection(
  poolMax = 10,
  poolWaitMs?: number,
): Promise<DatabaseConnection> {
  const choice = loadChoice()
  if (choice.kind !== 'postgres' || !fileDatabaseName) throw new Error('needs PostgreSQL')
  return connectDatabase({
    kind: 'postgres',
    url: withDatabase(choice.adminUrl, fileDatabaseName),
    poolMax,
    poolWaitMs,
  })
}

/** This file's database as a URL, on PostgreSQL (for tools such as pg_dump). */
export function fileDatabaseUrl(): string {
  const choice = loadChoice()
  if (choice.kind !== 'postgres' || !fileDatabaseName) throw new Error('needs PostgreSQL')
  return withDatabase(choice.adminUrl, fileDatabaseName)
}

export const onPostgres = (): boolean => loadChoice().kind === 'postgres'

async function dropFileDatabase(): Promise<void> {
  if (!fileDatabase) return
  const connection = await fileDatabase
  if (closeFileDatabase) await closeFileDatabase()
  else await connection.db.destroy()
  const choice = loadChoice()
  if (choice.kind === 'postgres' && fileDatabaseName) {
    const admin = new pg.Client({ connectionString: choice.adminUrl })
    await admin.connect()
    await admin.query(`drop database if exists ${fileDatabaseName} with (force)`)
    await admin.end()
  }
}

const contract = new ContractValidator()

export interface TestServer {
  app: FastifyInstance
  /** app.inject, plus checks that the response has a request id and matches the contract. */
  inject: (options: InjectOptions) => Promise<LightMyRequestResponse>
  database: DatabaseConnection
}

let teardownRegistered = false

/** Drops this file's database (and closes its shared app first) when the file's tests end. */
async function registerFileTeardown(): Promise<void> {
  if (teardownRegistered) return
  teardownRegistered = true
  const root = (await import('tap')).default
  root.teardown(async () => {
    if (fileApp) await (await fileApp).fastify.close()
    await dropFileDatabase()
  })
}

interface App {
  fastify: FastifyInstance
  /** Route template of each request in flight, by request id. */
  routes: Map<string, string | undefined>
  database: DatabaseConnection
}

/** What a test may set of the app it builds. */
export interface BuildOptions {
  config?: Partial<Config>
  database?: DatabaseConnection
  /** The webhook deliveries' resolver and connector (tests reach only 127.0.0.1). */
  outbound?: OutboundOverrides
}

async function startApp(options: BuildOptions = {}): Promise<App> {
  const database = options.database ?? (await testDatabase())
  const fastify = Fastify(serverOptions({ logLevel: options.config?.logLevel ?? 'silent' }))
  const routes = new Map<string, string | undefined>()
  void fastify.register(app, {
    config: testConfig(options.config),
    database,
    outbound: options.outbound,
  })
  fastify.addHook('onRequest', async (request) => {
    routes.set(request.id, request.routeOptions.url)
  })
  await fastify.ready()
  return { fastify, routes, database }
}

/** Builds the app on this file's database, torn down with the test. */
export async function build(t: Test, options: BuildOptions = {}): Promise<TestServer> {
  const started = await startApp(options)
  t.teardown(() => started.fastify.close())
  return serverFor(t, started)
}

let fileApp: Promise<App> | undefined

/**
 * The app with the default test configuration, built once per test file and closed when the
 * file ends: for tests that need no fresh app (its state is the file's database, which every
 * test of the file shares anyway). Its checks report to `t`.
 */
export async function fileServer(t: Test): Promise<TestServer> {
  fileApp ??= startApp()
  return serverFor(t, await fileApp)
}

function serverFor(t: Test, { fastify, routes, database }: App): TestServer {
  async function inject(injectOptions: InjectOptions): Promise<LightMyRequestResponse> {
    const response = await fastify.inject(injectOptions)
    const requestId = response.headers['x-request-id']
    if (typeof requestId !== 'string' || requestId === '') {
      t.fail(`${injectOptions.method ?? 'GET'} ${injectOptions.url}: no x-request-id header`)
      return response
    }
    const routeUrl = routes.get(requestId)
    routes.delete(requestId)
    const isJson = String(response.headers['content-type'] ?? '').startsWith('application/json')
    if (routeUrl && isJson && !routeUrl.startsWith('/docs')) {
      const problems = contract.check(
        response.raw.req.method ?? 'GET',
        routeUrl,
        response.statusCode,
        response.json(),
      )
      if (problems.length > 0)
        t.fail(`response does not match the contract: ${problems.join('; ')}`)
    }
    if (routeUrl && !routeUrl.startsWith('/docs')) {
      const method = response.raw.req.method ?? 'GET'
      for (const name of contract.requiredHeaders(method, routeUrl, response.statusCode)) {
        if (response.headers[name] === undefined) {
          t.fail(`${method} ${routeUrl} ${response.statusCode}: no ${name} header`)
        }
      }
    }
    return response
  }

  return { app: fastify, inject, database }
}
