import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

export interface ScriptRun {
  code: number
  stdout: string
  stderr: string
}

/**
 * The machine's environment less what would choose a database, secret or address for the
 * script, and less the test runner's NODE_OPTIONS: the script sees only what a test hands it.
 */
function scriptEnvironment(env: Record<string, string>): NodeJS.ProcessEnv {
  const chosenHere =
    /^(DATABASE_URL|DATA_DIR|JWT_|SALES_WEBHOOK|CURSOR_SECRET|REDIS_URL|LOG_|PORT$|HOST$|NODE_ENV$|NODE_OPTIONS$)/
  const inherited = Object.entries(process.env).filter(([name]) => !chosenHere.test(name))
  return {
    ...Object.fromEntries(inherited),
    // A fresh DATA_DIR, so no script writes into the repository's ./data.
    DATA_DIR: mkdtempSync(join(tmpdir(), 'payme-script-')),
    ...env,
  }
}

/** Runs `node --import tsx <script> ...args` as `npm run` would and waits for it to end. */
export function runScript(
  script: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<ScriptRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', script, ...args],
      { cwd: ROOT, env: scriptEnvironment(env), timeout: 120_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0
        resolve({ code, stdout, stderr })
      },
    )
  })
}

/** Starts `node --import tsx <script> ...args` and leaves it running (its output discarded). */
export function startScript(
  script: string,
  args: string[],
  env: Record<string, string> = {},
): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    cwd: ROOT,
    env: scriptEnvironment(env),
    stdio: 'ignore',
  })
}

/** A usage error as every script answers one: two lines on stderr, exit 2, no stack trace. */
export function assertUsageError(
  t: Test,
  run: ScriptRun,
  command: string,
  reason: string | RegExp,
  name: string,
): void {
  t.equal(run.code, 2, `${name}: exit code 2`)
  const lines = run.stderr.trimEnd().split('\n')
  t.equal(lines.length, 2, `${name}: two lines on stderr (${JSON.stringify(run.stderr)})`)
  t.match(lines[0], reason, `${name}: the first says what is wrong`)
  t.ok(lines[0]?.startsWith(`${command}: `), `${name}: naming the command`)
  t.ok(lines[1]?.startsWith(`usage: ${command}`), `${name}: the second is the usage line`)
  t.notMatch(run.stderr, /\n\s+at /, `${name}: no stack trace`)
  t.equal(run.stdout, '', `${name}: nothing on stdout`)
}
