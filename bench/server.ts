import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { createSigner } from 'fast-jwt'
import { clockTicksPerSecond, processTicks } from './cpu.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
/** Production's launcher (its memory settings); it execs Node, so the child's pid is the service's. */
const PRODUCTION = 'scripts/run-production.sh'

export interface BenchServer {
  url: string
  /** The probe port (PROBE_PORT): /health and /ready answered by the service's worker thread. */
  probeUrl: string
  process: ChildProcess
  /** Resident memory now and the process's peak so far (VmHWM), in MB. */
  memory: () => { rss: number; peak: number }
  /** CPU time the process has used so far (user and system), in seconds. */
  cpuSeconds: () => number
  stop: () => Promise<void>
}

function memoryOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0)
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 }
}

/**
 * Node with `args` (an entry point and its arguments) started through production's launcher, on
 * this bench's Node, from the repository's root.
 */
export function launch(args: string[], env: Record<string, string>): ChildProcess {
  return spawn('sh', [PRODUCTION, ...args], {
    cwd: ROOT,
    env: { ...process.env, NODE: process.execPath, ...env },
    stdio: ['ignore', 'inherit', 'inherit'],
  })
}

/**
 * The service as production runs it (`npm run build`, then one Node process on the compiled
 * files, started as `npm run start:production` starts it), on the benchmark database, with its
 * probes on `probePort` as well.
 */
export async function startServer(
  env: Record<string, string>,
  port: number,
  probePort: number,
  // Production as deployed; development only for the delivery scenario, whose receiver is on
  // 127.0.0.1 (production posts only to https on public addresses).
  nodeEnv: 'production' | 'development' = 'production',
  // The job queue's workers (the delivery loop among them) in a process of their own, `npm run
  // worker` as deployed beside API-only instances, instead of inside the service.
  separateWorker = false,
): Promise<BenchServer> {
  execFileSync('npm', ['run', '-s', 'build'], { cwd: ROOT, stdio: 'inherit' })
  const child = launch(['dist/server.js'], {
    // The benchmark measures the service, not its rate limiter.
    RATE_LIMIT_MAX: '1000000000',
    RATE_LIMIT_WEBHOOK_MAX: '1000000000',
    ...env,
    PORT: String(port),
    PROBE_PORT: String(probePort),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    NODE_ENV: nodeEnv,
    // The import scenario needs the job queue's workers: in this process unless separate.
    WORKERS: separateWorker ? 'false' : 'true',
  })
  const worker = separateWorker
    ? launch(['dist/scripts/worker.js'], {
        ...env,
        LOG_LEVEL: 'warn',
        NODE_ENV: nodeEnv,
        WORKERS: 'true',
      })
    : undefined
  const url = `http://127.0.0.1:${port}`
  const probeUrl = `http://127.0.0.1:${probePort}`
  for (let attempt = 0; attempt < 200; attempt += 1) {
    try {
      // The probe port's thread starts once the service listens.
      if ((await fetch(`${url}/ready`)).ok && (await fetch(`${probeUrl}/ready`)).ok) break
    } catch {
      // not listening yet
    }
    if (child.exitCode !== null) throw new Error(`the service exited with ${child.exitCode}`)
    await sleep(100)
  }
  const ticksPerSecond = clockTicksPerSecond()
  return {
    url,
    probeUrl,
    process: child,
    memory: () => memoryOf(child.pid ?? 0),
    cpuSeconds: () => processTicks(child.pid ?? 0) / ticksPerSecond,
    stop: async () => {
      if (worker && worker.exitCode === null) {
        worker.kill('SIGTERM')
        await new Promise((resolve) => worker.once('exit', resolve))
      }
      child.kill('SIGTERM')
      await new Promise((resolve) => child.once('exit', resolve))
    },
  }
}

/** A token the service started with JWT_SECRET `secret` accepts for `business`, valid an hour. */
export function benchToken(secret: string, business: number): string {
  return createSigner({ key: secret, expiresIn: 3_600_000 })({ sub: 1, businesses: [business] })
}
