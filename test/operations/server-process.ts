import { spawn, type ChildProcess } from 'node:child_process'
import { cpSync, existsSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'
import { TEST_JWT_SECRET, TEST_WEBHOOK_SECRET, testDatabase } from '../helper.js'
import { loadChoice } from '../setup/test-database.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

export interface ServerProcess {
  url: string
  port: number
  child: ChildProcess
  dataDir: string
  stdout: () => string
  stderr: () => string
  /** Resolves with the exit code once the process has ended. */
  exited: Promise<number | null>
}

/** Runs `node --import tsx server.ts` (or another entry, a script) with `env`; `exited` gives its code. */
export function runServer(
  env: Record<string, string>,
  entry = 'server.ts',
): {
  child: ChildProcess
  output: { stdout: string; stderr: string }
  exited: Promise<number | null>
} {
  const child = spawn(process.execPath, ['--import', 'tsx', entry], {
    cwd: ROOT,
    env: baseEnvironment(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const output = { stdout: '', stderr: '' }
  child.stdout?.on('data', (chunk: Buffer) => (output.stdout += chunk.toString()))
  child.stderr?.on('data', (chunk: Buffer) => (output.stderr += chunk.toString()))
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
  return { child, output, exited }
}

/** The machine's environment less anything that would choose a database or secret for us. */
export function baseEnvironment(env: Record<string, string>): NodeJS.ProcessEnv {
  const chosenHere =
    /^(DATABASE_URL|DATA_DIR|JWT_|SALES_WEBHOOK|CURSOR_SECRET|REDIS_URL|LOG_|CORS_|RATE_LIMIT|TRUST_PROXY|SHUTDOWN_|PORT$|HOST$|NODE_ENV$)/
  const inherited = Object.entries(process.env).filter(([name]) => !chosenHere.test(name))
  return { ...Object.fromEntries(inherited), ...env }
}

/** The template's migrated PGlite folder as DATA_DIR/pgdata, when the suite built one. */
function seedFromTemplate(dataDir: string): void {
  const choice = loadChoice()
  if (choice.kind === 'embedded' && choice.template) {
    cpSync(choice.template.dataDir, join(dataDir, 'pgdata'), { recursive: true })
  }
}

/**
 * The real server in its own process, on this test file's database: PostgreSQL through
 * DATABASE_URL when the suite runs on PostgreSQL, else embedded PostgreSQL in a fresh DATA_DIR.
 * Stopped (SIGKILL, if still running) when the test ends.
 */
export async function startServer(
  t: Test,
  env: Record<string, string> = {},
): Promise<ServerProcess> {
  const dataDir = mkdtempSync(join(tmpdir(), 'payme-server-'))
  const { target } = await testDatabase()
  // Embedded: the server starts on a copy of the migrated template instead of running initdb
  // (the generated-client test still starts one from an empty DATA_DIR, as `npm start` does).
  if (target.kind === 'embedded') seedFromTemplate(dataDir)
  const database: Record<string, string> =
    target.kind === 'postgres' ? { DATABASE_URL: target.url } : {}
  return untilListening(t, dataDir, {
    NODE_ENV: 'production',
    HOST: '127.0.0.1',
    PORT: '0',
    DATA_DIR: dataDir,
    JWT_SECRET: TEST_JWT_SECRET,
    SALES_WEBHOOK_SECRET: TEST_WEBHOOK_SECRET,
    LOG_LEVEL: 'info',
    ...database,
    ...env,
  })
}

/**
 * The real server on embedded PostgreSQL in `dataDir` whatever database the suite runs on, as
 * `npm start` runs it (development, no DATABASE_URL), with the test JWT secret. A `dataDir`
 * without pgdata gets a copy of the migrated template when there is one.
 */
export async function startEmbeddedServer(
  t: Test,
  dataDir: string,
  env: Record<string, string> = {},
): Promise<ServerProcess> {
  if (!existsSync(join(dataDir, 'pgdata'))) seedFromTemplate(dataDir)
  return untilListening(t, dataDir, {
    NODE_ENV: 'development',
    HOST: '127.0.0.1',
    PORT: '0',
    DATA_DIR: dataDir,
    JWT_SECRET: TEST_JWT_SECRET,
    LOG_LEVEL: 'info',
    ...env,
  })
}

/** Runs server.ts with `env` (stopped with the test) and resolves once it says where it listens. */
async function untilListening(
  t: Test,
  dataDir: string,
  env: Record<string, string>,
): Promise<ServerProcess> {
  const { child, output, exited } = runServer(env)
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL')
      await exited
    }
  })
  const started = Date.now()
  while (Date.now() - started < 60_000) {
    const match = /listening on (http:\/\/[^\s]+)/.exec(output.stdout)
    if (match?.[1]) {
      const url = match[1].replace('localhost', '127.0.0.1')
      return {
        url,
        port: Number(new URL(url).port),
        child,
        dataDir,
        stdout: () => output.stdout,
        stderr: () => output.stderr,
        exited,
      }
    }
    if (child.exitCode !== null) break
    await sleep(50)
  }
  throw new Error(`the server did not start:\n${output.stdout}\n${output.stderr}`)
}
