import t from 'tap'
import { assertUsageError, runScript } from './run-script.js'

/** Every script a user runs through npm, as package.json runs it. */
const SCRIPTS = [
  { script: 'scripts/token.ts', command: 'npm run token' },
  { script: 'scripts/sale.ts', command: 'npm run sale' },
  { script: 'scripts/import.ts', command: 'npm run import' },
  { script: 'scripts/migrate.ts', command: 'npm run migrate' },
  { script: 'scripts/worker.ts', command: 'npm run worker' },
  { script: 'scripts/recompute.ts', command: 'npm run recompute' },
  { script: 'scripts/seed.ts', command: 'npm run seed' },
  { script: 'scripts/docs-config.ts', command: 'npm run docs:config' },
  { script: 'scripts/generate.ts', command: 'npm run generate' },
  { script: 'scripts/build.ts', command: 'npm run build' },
  { script: 'bench/run.ts', command: 'npm run bench' },
]

/** Two at a time: each is a Node process compiling TypeScript on a shared machine. */
async function inPairs<T, R>(items: T[], work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = []
  for (let index = 0; index < items.length; index += 2) {
    results.push(...(await Promise.all(items.slice(index, index + 2).map(work))))
  }
  return results
}

t.test('every script answers --help with its usage and options, exit 0', async (t) => {
  const runs = await inPairs(SCRIPTS, ({ script }) => runScript(script, ['--help']))
  SCRIPTS.forEach(({ command }, index) => {
    const run = runs[index]!
    t.equal(run.code, 0, `${command} --help: exit 0`)
    t.ok(run.stdout.startsWith(`usage: ${command}`), `${command} --help: the usage line first`)
    t.match(run.stdout, /\n {2}-h, --help {2,}prints this help\n/, `${command} --help: options`)
    t.equal(run.stderr, '', `${command} --help: nothing on stderr`)
  })
})

t.test('every script refuses an unknown option with usage, exit 2', async (t) => {
  const runs = await inPairs(SCRIPTS, ({ script }) => runScript(script, ['--no-such-option']))
  SCRIPTS.forEach(({ command }, index) => {
    assertUsageError(t, runs[index]!, command, /unknown option --no-such-option$/, command)
  })
})

// The rules common to all (a missing required option, each kind of value) are tested in-process
// in cli.test.ts; here the issue's own example and the scripts' own rules.
t.test('a bad value is a usage error, exit 2', async (t) => {
  const cases = [
    {
      script: 'scripts/token.ts',
      command: 'npm run token',
      args: ['--business', '5', '--hours', 'abc'],
      reason: '--hours takes a positive integer, not "abc"',
    },
    {
      script: 'scripts/sale.ts',
      command: 'npm run sale',
      args: ['--business', '5', '--customer', '1', '--amount', '25.005'],
      reason: /--amount takes an amount of money .*, not "25.005"$/,
    },
    {
      script: 'bench/run.ts',
      command: 'npm run bench',
      args: ['--scenarios', 'no such scenario'],
      reason: '--scenarios "no such scenario" matches no scenario',
    },
  ]
  const runs = await inPairs(cases, ({ script, args }) => runScript(script, args))
  cases.forEach(({ command, args, reason }, index) => {
    const name = `${command} -- ${args.join(' ')}`
    assertUsageError(t, runs[index]!, command, reason, name)
  })
})
