import { spawn, type ChildProcess } from 'node:child_process'
import { cpSync, mkdtempSync } from 'node:fs'
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

/** Runs `node --import tsx server.ts` with `env` and waits for its exit code. */
export function runServer(env: Record<string, string>): {
  child: ChildProcess
  output: { stdout: string; stderr: string }
  exited: Promise<number | null>
} {
  const child = spawn(process.execPath, ['--import', 'tsx', 'server.ts'], {
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
  const choice = loadChoice()
  if (target.kind === 'embedded' && choice.kind === 'embedded' && choice.template) {
    cpSync(choice.template.dataDir, join(dataDir, 'pgdata'), { recursive: true })
  }
  const database: Record<string, string> =
    target.kind === 'postgres' ? { DATABASE_URL: target.url } : {}
  const { child, output, exited } = runServer({
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
