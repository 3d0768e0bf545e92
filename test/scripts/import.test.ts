import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse } from 'csv-parse/sync'
import t from 'tap'
import { TEST_JWT_SECRET, build, testDatabase, tokenFor } from '../helper.js'
import { IMPORT_FIXTURES } from '../support/imports.js'
import { loadChoice } from '../setup/test-database.js'
import { assertUsageError, runScript } from './run-script.js'

const SCRIPT = 'scripts/import.ts'
const COMMAND = 'npm run import'
const EVERY_KIND = fileURLToPath(new URL('every-kind-of-row.csv', IMPORT_FIXTURES))
const SAMPLE = fileURLToPath(new URL('../../docs/sample-import.csv', import.meta.url))
/** The fixture's outcome (test/routes/api/customers/imports.test.ts): 14 rows, 4 created. */
const EVERY_KIND_COUNTS = /: 14 rows, 14 processed — created 4, updated 0, skipped 0, rejected 10\n/
const EVERY_KIND_PROBLEMS = [
  ['row', 'column', 'message'],
  ['2', 'name', 'is required'],
  ['3', 'phone', 'must be a valid phone number'],
  ['4', 'email', 'must be a valid email address'],
  ['5', 'customer_type', 'must be one of: walk_in, regular, vip, wholesale'],
  ['6', 'name', 'must be at most 255 characters'],
  ['7', '', 'has 2 fields; the header has 9'],
  ['10', 'prefer_sms', 'must be boolean'],
  ['11', 'address', 'must be at most 500 characters'],
  ['12', 'notes', 'must be at most 2000 characters'],
  ['13', 'name', 'must not be empty'],
]

const scratch = mkdtempSync(join(tmpdir(), 'payme-import-cli-'))
const scratchFile = (name: string, text: string): string => {
  const path = join(scratch, name)
  writeFileSync(path, text)
  return path
}

async function customersOf(businessId: number): Promise<number> {
  const { db } = await testDatabase()
  const row = await db
    .selectFrom('customers')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('business_id', '=', businessId)
    .executeTakeFirstOrThrow()
  return Number(row.n)
}

/** The error report as saved: its header and rows. */
const records = (path: string): string[][] =>
  parse(readFileSync(path, 'utf8'), { bom: true }) as string[][]

t.test('over HTTP: upload, progress, summary, error report and exit codes', async (t) => {
  // Workers on, as npm start runs them: the CLI only watches the import.
  const { app } = await build(t, { config: { workers: true } })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  const run = (business: number, args: string[], env: Record<string, string> = {}) =>
    runScript(SCRIPT, ['--business', String(business), '--url', url, ...args], env)

  const errorsPath = join(scratch, 'errors.csv')
  const mixed = await run(7301, [EVERY_KIND, '--errors', errorsPath], {
    TOKEN: tokenFor({ sub: 1, businesses: [7301] }),
  })
  t.equal(mixed.code, 3, `rows rejected: exit 3 (${mixed.stderr})`)
  t.match(mixed.stdout, /^import \d+ succeeded/, 'the summary says it succeeded')
  t.match(mixed.stdout, EVERY_KIND_COUNTS, 'with the exact counts')
  t.match(
    mixed.stdout,
    new RegExp(`rejected rows and why: ${url}/api/customers/7301/imports/\\d+/errors\\n`),
    'and where the rejected rows are explained',
  )
  t.match(mixed.stdout, `saved to ${errorsPath}`, 'and where they were saved')
  t.match(mixed.stderr, /14\/14 rows \| succeeded/, 'the progress bar reached the end')
  t.same(records(errorsPath), EVERY_KIND_PROBLEMS, 'the saved report: every problem')
  t.equal(await customersOf(7301), 4, 'four customers created')

  const dry = await run(7301, [EVERY_KIND, '--mode', 'upsert', '--dry-run'], {
    TOKEN: tokenFor({ sub: 1, businesses: [7301] }),
  })
  t.equal(dry.code, 3, `dry run with rejected rows: exit 3 (${dry.stderr})`)
  t.match(dry.stdout, /^dry run \d+ \(nothing written\) succeeded: 14 rows/, 'a dry run says so')
  t.equal(await customersOf(7301), 4, 'and wrote nothing')

  // No token given: one made as npm run token makes it, with the service's secret.
  const clean = await run(7302, ['--file', SAMPLE], { JWT_SECRET: TEST_JWT_SECRET })
  t.equal(clean.code, 0, `every row applied: exit 0 (${clean.stderr})`)
  t.match(clean.stdout, /: 3 rows, 3 processed — created 3, updated 0, skipped 0, rejected 0\n/)
  t.notMatch(clean.stdout, /rejected rows and why/, 'no error report to point at')
  t.equal(await customersOf(7302), 3, 'three customers created')

  const again = await run(7302, [SAMPLE, '--mode', 'upsert'], { JWT_SECRET: TEST_JWT_SECRET })
  t.equal(again.code, 0, `upsert of the same file: exit 0 (${again.stderr})`)
  t.match(again.stdout, /created 0, updated 0, skipped 3, rejected 0/, 'nothing to change')

  const otherSecret = await run(7302, [SAMPLE], { JWT_SECRET: 'x'.repeat(40) })
  t.equal(otherSecret.code, 1, 'a token the service refuses: exit 1')
  t.match(otherSecret.stderr, /npm run import: the service answered 401: .*\(pass a token/)

  const forbidden = await run(7303, [SAMPLE, '--token', tokenFor({ businesses: [7302] })])
  t.equal(forbidden.code, 1, 'a token for another business: exit 1')
  t.match(forbidden.stderr, /answered 403: .*\(the token does not grant business 7303\)/)

  const badHeader = scratchFile('bad-header.csv', 'nom,phone\nWanjiru,0712345678\n')
  const refused = await run(7302, [badHeader], { JWT_SECRET: TEST_JWT_SECRET })
  t.equal(refused.code, 1, 'a header the service refuses: exit 1')
  t.match(refused.stderr, /answered 400: .*nom/, 'its reason printed')
  t.equal(refused.stdout, '', 'no summary')
})

t.test('--local: the import runs here, on the database of DATABASE_URL or DATA_DIR', async (t) => {
  const { target } = await testDatabase()
  const dataDir = mkdtempSync(join(tmpdir(), 'payme-import-local-'))
  const choice = loadChoice()
  if (choice.kind === 'embedded' && choice.template) {
    cpSync(choice.template.dataDir, join(dataDir, 'pgdata'), { recursive: true })
  }
  const env = {
    DATA_DIR: dataDir,
    ...(target.kind === 'postgres' ? { DATABASE_URL: target.url } : {}),
  }
  const errorsPath = join(scratch, 'local-errors.csv')
  const run = await runScript(
    SCRIPT,
    ['--business', '7311', '--local', EVERY_KIND, '--errors', errorsPath],
    env,
  )
  t.equal(run.code, 3, `rows rejected: exit 3 (${run.stderr})`)
  t.match(run.stdout, EVERY_KIND_COUNTS, 'the exact counts')
  t.match(run.stdout, /rejected rows and why: GET \/api\/customers\/7311\/imports\/\d+\/errors/)
  t.same(records(errorsPath), EVERY_KIND_PROBLEMS, 'the saved report: every problem')
  if (target.kind === 'postgres') t.equal(await customersOf(7311), 4, 'four customers created')
})

t.test('what it refuses before sending anything', async (t) => {
  const cases = [
    { args: ['--business', '5'], reason: /--file is required$/ },
    { args: ['--business', '5', 'a.csv', 'b.csv'], reason: /--file is given more than once$/ },
    { args: ['--business', '5', 'a.csv', '--mode', 'merge'], reason: /--mode takes one of/ },
    {
      args: ['--business', '5', 'a.csv', '--local', '--url', 'http://127.0.0.1:9'],
      reason: /--local runs without a server: --url and --token do not apply$/,
    },
  ]
  for (const { args, reason } of cases) {
    assertUsageError(t, await runScript(SCRIPT, args), COMMAND, reason, args.join(' '))
  }
  const missing = await runScript(SCRIPT, ['--business', '5', join(scratch, 'nowhere.csv')])
  t.equal(missing.code, 1, 'a missing file: exit 1')
  t.match(missing.stderr, /^npm run import: .*nowhere\.csv: no such file\n$/, 'in one line')

  const unreachable = await runScript(
    SCRIPT,
    ['--business', '5', SAMPLE, '--url', 'http://127.0.0.1:9', '--token', 'x'],
    {},
  )
  t.equal(unreachable.code, 1, 'no service there: exit 1')
  t.match(unreachable.stderr, /could not reach http:\/\/127\.0\.0\.1:9 \(ECONNREFUSED\)/)
})
