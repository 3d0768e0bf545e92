/**
 * scripts/run-production.sh starts the compiled service and worker with production's memory
 * settings (issue 19: peak RSS). What a process started through it runs with: V8's limits,
 * glibc's arena cap, and the operator's override of the old-space cap.
 */
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const MB = 1024 * 1024

interface Runtime {
  flags: string[]
  heapLimitMb: number
  arenas: string | undefined
}

/** What a process started by the launcher sees of its own settings. */
function runtimeThrough(env: Record<string, string> = {}): Runtime {
  const report = `const v8 = require('node:v8'); console.log(JSON.stringify({
    flags: process.execArgv, heapLimitMb: v8.getHeapStatistics().heap_size_limit / ${MB},
    arenas: process.env.MALLOC_ARENA_MAX }))`
  const { MALLOC_ARENA_MAX: _inherited, ...parent } = process.env
  const output = execFileSync('sh', ['scripts/run-production.sh', '-e', report], {
    cwd: ROOT,
    env: { ...parent, NODE: process.execPath, ...env },
    encoding: 'utf8',
  })
  return JSON.parse(output) as Runtime
}

t.test('the launcher caps the young and old generations and the malloc arenas', async (t) => {
  const runtime = runtimeThrough()
  t.same(
    runtime.flags,
    ['--max-semi-space-size=8', '--max-old-space-size=256', '--enable-source-maps'],
    'Node runs with the flags',
  )
  // The limit V8 reports: the old-space cap plus the young generation (three semi-spaces).
  t.ok(
    runtime.heapLimitMb >= 256 && runtime.heapLimitMb <= 300,
    `heap limit ${runtime.heapLimitMb} MB`,
  )
  t.equal(runtime.arenas, '2', 'glibc gets at most two malloc arenas')
})

t.test('an operator raises the old-space cap and keeps their own arena setting', async (t) => {
  const runtime = runtimeThrough({ NODE_MAX_OLD_SPACE_MB: '1024', MALLOC_ARENA_MAX: '4' })
  t.ok(runtime.flags.includes('--max-old-space-size=1024'), 'the cap they set')
  t.ok(runtime.heapLimitMb >= 1024, `heap limit ${runtime.heapLimitMb} MB`)
  t.equal(runtime.arenas, '4', 'their arena setting')
})

t.test('production starts the service and the worker through the launcher', async (t) => {
  const { scripts } = JSON.parse(readFileSync(`${ROOT}/package.json`, 'utf8')) as {
    scripts: Record<string, string>
  }
  t.equal(
    scripts['start:production'],
    'NODE_ENV=production sh scripts/run-production.sh dist/server.js',
  )
  t.equal(
    scripts['worker:production'],
    'NODE_ENV=production sh scripts/run-production.sh dist/scripts/worker.js',
  )
})
