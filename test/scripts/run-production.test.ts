/**
 * scripts/run-production.sh starts the compiled service and worker with production's memory
 * settings (issue 19: peak RSS). What a process started through it runs with: V8's limits,
 * glibc's arena cap, the operator's overrides, and its own pid (the bench reads the service's
 * /proc through it).
 */
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const MB = 1024 * 1024
const REPORT = `const v8 = require('node:v8')
console.log(JSON.stringify({ flags: process.execArgv, pid: process.pid,
  heapLimitMb: v8.getHeapStatistics().heap_size_limit / ${MB},
  arenas: process.env.MALLOC_ARENA_MAX }))`

interface Runtime {
  flags: string[]
  pid: number
  heapLimitMb: number
  arenas: string | undefined
}

/** Starts a script that reports its own settings through the launcher, with `env` added. */
function launch(t: Test, env: Record<string, string> = {}) {
  const report = join(t.testdir(), 'report.cjs')
  writeFileSync(report, REPORT)
  const {
    MALLOC_ARENA_MAX: _arenas,
    NODE_MAX_OLD_SPACE_MB: _oldSpace,
    NODE_OPTIONS: _options,
    ...parent
  } = process.env
  return spawnSync('sh', ['scripts/run-production.sh', report], {
    cwd: ROOT,
    env: { ...parent, NODE: process.execPath, ...env },
    encoding: 'utf8',
  })
}

function runtimeThrough(t: Test, env: Record<string, string> = {}) {
  const launched = launch(t, env)
  t.equal(launched.status, 0, 'the launched process ends well')
  return { launched, runtime: JSON.parse(launched.stdout) as Runtime }
}

t.test('the launcher caps the young and old generations and the malloc arenas', async (t) => {
  const { launched, runtime } = runtimeThrough(t)
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
  t.equal(runtime.pid, launched.pid, 'Node replaces the shell: the pid started is the service')
})

t.test('an operator raises the old-space cap and keeps their own arena setting', async (t) => {
  const { runtime } = runtimeThrough(t, { NODE_MAX_OLD_SPACE_MB: '1024', MALLOC_ARENA_MAX: '4' })
  t.ok(runtime.flags.includes('--max-old-space-size=1024'), 'the cap they set')
  t.ok(runtime.heapLimitMb >= 1024, `heap limit ${runtime.heapLimitMb} MB`)
  t.equal(runtime.arenas, '4', 'their arena setting')
})

t.test('limits already in NODE_OPTIONS are the operator’s and win', async (t) => {
  const { runtime } = runtimeThrough(t, {
    NODE_OPTIONS: '--max-old-space-size=1024 --max-semi-space-size=16',
  })
  t.same(runtime.flags, ['--enable-source-maps'], 'the launcher adds neither limit')
  t.ok(runtime.heapLimitMb >= 1024, `heap limit ${runtime.heapLimitMb} MB`)
})

t.test('a cap that is not a whole number of megabytes stops the start, named', async (t) => {
  for (const value of ['1g', '-5']) {
    const launched = launch(t, { NODE_MAX_OLD_SPACE_MB: value })
    t.equal(launched.status, 64, `${value}: refused`)
    t.match(launched.stderr, /NODE_MAX_OLD_SPACE_MB must be a whole number of megabytes/)
    t.equal(launched.stdout, '', `${value}: nothing started`)
  }
  // Empty is unset: the default.
  t.equal(launch(t, { NODE_MAX_OLD_SPACE_MB: '' }).status, 0, 'empty: the default cap')
})

t.test('production starts the service and the worker through the launcher', async (t) => {
  const { scripts } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    scripts: Record<string, string>
  }
  const launched = {
    'start:production': ['dist/server.js', 'server.ts'],
    'worker:production': ['dist/scripts/worker.js', 'scripts/worker.ts'],
  }
  for (const [script, [compiled, source]] of Object.entries(launched)) {
    t.equal(scripts[script], `NODE_ENV=production sh scripts/run-production.sh ${compiled}`)
    t.ok(source && existsSync(join(ROOT, source)), `${compiled} is built from ${source}`)
  }
})
