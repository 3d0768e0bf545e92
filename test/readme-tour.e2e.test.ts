import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import t from 'tap'
import { onPostgres, testDatabase } from './helper.js'
import { baseEnvironment } from './operations/server-process.js'
import { startFreshService } from './support/fresh-service.js'
import { readmeSteps, type ReadmeStep } from './support/readme-commands.js'

const run = promisify(execFile)
const ROOT = fileURLToPath(new URL('../', import.meta.url))
const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')

const TOUR = 'Trying the API'
const SALES = 'Sending sales'
const MARK = '@@request'

interface Request {
  method: string
  status: number
  path: string
}

interface Outcome extends ReadmeStep {
  exitCode: number
  stdout: string
  stderr: string
  /** Every HTTP request the step's curl commands made. */
  requests: Request[]
}

/** A step as it runs here: against this service, its DATA_DIR, on 127.0.0.1. */
function localised(command: string, url: string, dataDir: string): string {
  return command
    .replaceAll('http://localhost:3000', url)
    .replaceAll('npm run sale -- ', `npm run sale -- --url ${url} `)
    .replaceAll('./data/', `${dataDir}/`)
}

/**
 * Runs the steps in one bash, one after the other (exports carry over as in a terminal),
 * keeping each step's output, exit code and the requests its curl calls made.
 */
async function runSteps(
  steps: ReadmeStep[],
  service: { url: string; dataDir: string; port: number },
): Promise<Outcome[]> {
  const out = mkdtempSync(join(tmpdir(), 'payme-readme-'))
  try {
    const script = [
      // curl also reports each request on stderr: method, status, URL.
      `curl() { command curl -w '%{stderr}${MARK} %{method} %{response_code} %{url_effective}\\n' "$@"; }`,
      ...steps.map((step, index) =>
        [
          '{',
          localised(step.command, service.url, service.dataDir),
          `} >'${out}/${index}.out' 2>'${out}/${index}.err'`,
          `echo $? >'${out}/${index}.rc'`,
        ].join('\n'),
      ),
    ].join('\n')
    writeFileSync(join(out, 'tour.sh'), script)
    await run('bash', [join(out, 'tour.sh')], {
      cwd: ROOT,
      env: baseEnvironment({ DATA_DIR: service.dataDir, PORT: String(service.port) }),
      timeout: 240_000,
    })
    return steps.map((step, index) => {
      const read = (name: string): string => readFileSync(join(out, `${index}.${name}`), 'utf8')
      const stderr = read('err')
      const requests = stderr
        .split('\n')
        .filter((line) => line.startsWith(`${MARK} `))
        .map((line) => {
          const [, method = '', status = '', url = ''] = line.split(' ')
          return { method, status: Number(status), path: new URL(url).pathname }
        })
      return {
        ...step,
        exitCode: Number(read('rc')),
        stdout: read('out'),
        stderr: stderr
          .split('\n')
          .filter((line) => !line.startsWith(MARK))
          .join('\n'),
        requests,
      }
    })
  } finally {
    rmSync(out, { recursive: true, force: true })
  }
}

/** What the contract answers on success: 201 for a created customer or note, else 200. */
function successStatus({ method, path }: Request): number {
  return method === 'POST' && /^\/api\/customers\/\d+(\/\d+\/notes)?$/.test(path) ? 201 : 200
}

const steps = [...readmeSteps(readme, TOUR), ...readmeSteps(readme, SALES)]

t.test("the README's tour and sales examples, as printed, on a fresh start", async (t) => {
  t.ok(steps.length > 20, `${steps.length} commands found in the README`)
  // On the PostgreSQL run the service gets this file's fresh database, else embedded
  // PostgreSQL in an empty DATA_DIR as `npm start` makes it.
  const database = onPostgres() ? await testDatabase() : undefined
  const service = await startFreshService(
    t,
    database?.target.kind === 'postgres' ? { DATABASE_URL: database.target.url } : {},
  )
  const outcomes = await runSteps(steps, service)

  for (const step of outcomes) {
    const name = `${step.section}: ${step.label}`
    // A script the README uses but package.json lacks (npm run sale before it lands) fails
    // here, with npm's "Missing script" in the diagnostic; test/readme.test.ts names it too.
    t.equal(step.exitCode, 0, `${name}: exit 0`, { command: step.command, stderr: step.stderr })
    for (const request of step.requests) {
      t.equal(
        request.status,
        successStatus(request),
        `${name}: ${request.method} ${request.path}`,
        {
          body: step.stdout.slice(0, 500),
        },
      )
    }
    // npm may warn on stderr; a shell command that writes there has gone wrong (a missing file).
    if (!/\bnpm /.test(step.command)) t.equal(step.stderr, '', `${name}: nothing on stderr`)
    if (/npm run sale /.test(step.command)) {
      // The first sale from an unregistered M-Pesa payer waits; every other one is processed.
      const expected = /--payer 0798765432/.test(step.command) ? 'unattributed' : 'processed'
      t.match(step.stdout, `"status":"${expected}"`, `${name}: ${expected}`, {
        stderr: step.stderr,
      })
    }
  }

  /** The JSON answer of the one step of `section` that made this request. */
  const answer = (section: string, method: string, path: string): Record<string, unknown> => {
    const step = outcomes.find(
      (outcome) =>
        outcome.section === section &&
        outcome.requests.some((request) => request.method === method && request.path === path),
    )
    if (!step) throw new Error(`${section}: no ${method} ${path} in the README`)
    return JSON.parse(step.stdout) as Record<string, unknown>
  }
  const customers = '/api/customers/5'

  t.match(
    answer(TOUR, 'POST', customers),
    { customer: { id: 1, phone: '+254712345678', is_active: true } },
    'the tour creates customer 1, the one every later step uses',
  )
  t.match(
    answer(TOUR, 'GET', `${customers}/1/history`),
    {
      sales: [{ sale_id: 'S-1', total_amount: '2500.00', status: 'completed' }],
      summary: { total_sales: 1, total_amount: '2500.00' },
    },
    "the customer's history shows the tour's sale",
  )
  t.match(
    answer(TOUR, 'GET', `${customers}/1/metrics`),
    { metrics: { total_purchases: 1, total_spent: '2500.00', loyalty_tier: 'one_time' } },
    'metrics count the sale',
  )
  t.match(
    answer(TOUR, 'GET', `${customers}/analytics`),
    { analytics: { total_customers: 1, active_customers: 1, average_lifetime_value: '2500.00' } },
    'analytics run before the delete: the customer is active and has spent',
  )

  const tourRequests = outcomes
    .filter((outcome) => outcome.section === TOUR)
    .flatMap((outcome) => outcome.requests)
    .filter((request) => request.path.startsWith(customers))
  t.same(
    tourRequests.filter((request) => request.method === 'DELETE'),
    [tourRequests.at(-1)],
    "the tour's one delete is its last call to the API",
  )
  t.match(
    answer(TOUR, 'DELETE', `${customers}/1`),
    { customer: { id: 1, is_active: false } },
    'the delete deactivates the customer',
  )

  const history = answer(SALES, 'GET', `${customers}/1/history`) as {
    sales: { sale_id: string; status: string; refunded_amount: string }[]
  }
  t.match(
    history.sales.find((sale) => sale.sale_id === 'S-2'),
    { status: 'voided', refunded_amount: '200.00' },
    'Sending sales: S-2 refunded in part, then voided',
  )
  t.ok(
    history.sales.some((sale) => sale.sale_id === 'S-1'),
    "Sending sales: the tour's sale is still listed",
  )
  t.match(
    answer(SALES, 'POST', customers),
    { customer: { id: 2, phone: '+254798765432' }, attached_sales: 1 },
    'Sending sales: the walk-in who registers takes the M-Pesa sale that waited',
  )
  const payerSale = outcomes.find(
    (outcome) => outcome.section === SALES && outcome.command.includes('--payer "+254 798'),
  )
  t.match(
    payerSale?.stdout,
    '"customer_id":2,"matched_by":"phone"',
    'Sending sales: their next M-Pesa sale finds them by phone',
  )
  t.match(
    answer(SALES, 'POST', '/webhooks/sales'),
    { status: 'processed' },
    'the openssl recipe, signed with the development secret, is processed',
  )
})
