/**
 * `npm run import -- --business 5 customers.csv [--mode upsert] [--dry-run] [--errors out.csv]`:
 * uploads the file to the running service's `POST /imports` (or with `--local` runs the import
 * here, without a server), shows its progress, then the counts and where the rejected rows are.
 * Exit 0: succeeded, every row applied; 3: succeeded, some rows rejected; 1: not done (failed,
 * refused, unreachable, no such file); 2: a wrong command line.
 */
import { statSync } from 'node:fs'
import { ConfigError, loadConfig, type Config } from '../lib/config.js'
import {
  flag,
  httpUrl,
  nonEmptyText,
  oneOf,
  optional,
  parseCommandLine,
  positiveInteger,
  required,
  withDefault,
  type Command,
} from './cli.js'
import { withBareArgumentAs } from './import/arguments.js'
import { importLocally } from './import/local.js'
import {
  EXIT,
  exitCodeOf,
  ImportFailure,
  progressBar,
  summary,
  type Finished,
} from './import/outcome.js'
import { importOverHttp } from './import/remote.js'
import { developmentToken } from './development-token.js'

const options = {
  business: required(positiveInteger, { placeholder: '<id>', description: 'the business' }),
  file: required(nonEmptyText, {
    placeholder: '<file.csv>',
    description: 'the CSV file (header row first); also given as the one bare argument',
  }),
  mode: withDefault(oneOf(['create', 'upsert'] as const), {
    placeholder: '<mode>',
    description:
      'create: every row is a new customer; upsert: a row matching an active customer by phone, then e-mail, updates it',
    default: 'create',
  }),
  'dry-run': flag('check every row and count what would happen; write nothing'),
  errors: optional(nonEmptyText, {
    placeholder: '<out.csv>',
    description: "save the rejected rows' problems (row,column,message) to this file",
    absent: 'only their URL is printed',
  }),
  url: optional(httpUrl, {
    placeholder: '<url>',
    description: 'where the service listens',
    absent: 'http://127.0.0.1:$PORT, PORT being 3000 unless set',
  }),
  token: optional(nonEmptyText, {
    placeholder: '<jwt>',
    description: 'a token that grants the business',
    absent:
      'TOKEN from the environment, else one made like npm run token, with JWT_SECRET or the development secret in DATA_DIR',
  }),
  sub: withDefault(positiveInteger, {
    placeholder: '<id>',
    description: "the user the file's notes are by, in a token made here or with --local",
    default: 1,
  }),
  'idempotency-key': optional(nonEmptyText, {
    placeholder: '<key>',
    description: 'sent as Idempotency-Key: a rerun with the same key and file is the same import',
    absent: 'each run is a new import',
  }),
  local: flag(
    'no server: run the import in this process on DATABASE_URL (or the embedded database in DATA_DIR, when the service is not running on it)',
  ),
}

const command: Command<typeof options> = {
  command: 'npm run import',
  summary:
    'Imports customers from a CSV file: uploads it to the running service (POST /api/customers/{business}/imports), shows the progress of the import, then its counts and where the rejected rows are explained. Exit 0 when every row was applied, 3 when the import succeeded with rejected rows, 1 when it did not happen or failed. Columns: name (required), phone, email, address, customer_type, prefer_sms, prefer_email, prefer_call, notes; see docs/imports.md.',
  options,
  check: (values) =>
    values.local && (values.url !== undefined || values.token !== undefined)
      ? '--local runs without a server: --url and --token do not apply'
      : undefined,
}
const args = parseCommandLine(command, withBareArgumentAs('file', options, process.argv.slice(2)))

function fail(message: string): never {
  process.stderr.write(`${command.command}: ${message}\n`)
  process.exit(EXIT.failed)
}

/** The size of the file, checked before anything is sent or opened. */
function fileBytes(path: string): number {
  try {
    const stats = statSync(path)
    if (!stats.isFile()) fail(`${path} is not a file`)
    return stats.size
  } catch (error) {
    const code = (error as { code?: string }).code
    fail(code === 'ENOENT' ? `${path}: no such file` : `cannot read ${path}: ${code ?? error}`)
  }
}

let config: Config | undefined
function configuration(): Config {
  try {
    config ??= loadConfig()
    return config
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message)
    throw error
  }
}

/** Where the service of this environment listens (HOST 0.0.0.0 or :: is reached on loopback). */
function serviceUrl(): string {
  const { host, port } = configuration()
  const reachable = ['0.0.0.0', '::', ''].includes(host) ? '127.0.0.1' : host
  return `http://${reachable.includes(':') ? `[${reachable}]` : reachable}:${port}`
}

function tokenToSend(): string {
  const given = args.token ?? process.env.TOKEN
  if (given) return given
  const made = developmentToken(configuration(), { sub: args.sub, businesses: [args.business] })
  if (!made) fail('tokens come from the auth service here (JWT_PUBLIC_KEY): pass --token or TOKEN')
  return made
}

const bytes = fileBytes(args.file)
const progress = progressBar()
const interrupted = new AbortController()
let importUrl: string | undefined
process.once('SIGINT', () => {
  progress.stop()
  if (args.local) {
    // The job stops after its current batch; the workers resume it from there.
    process.stderr.write('stopping after the current batch; the workers resume the import\n')
    interrupted.abort()
    return
  }
  process.stderr.write(
    importUrl ? `stopped following; the import goes on: GET ${importUrl}\n` : 'upload cancelled\n',
  )
  process.exit(EXIT.failed)
})

const began = Date.now()
let finished: Finished
try {
  const common = {
    businessId: args.business,
    file: args.file,
    mode: args.mode,
    dryRun: args['dry-run'],
    ...(args.errors ? { errorsTo: args.errors } : {}),
  }
  if (args.local) {
    process.stderr.write(`importing ${args.file} into business ${args.business} here (--local)\n`)
    finished = await importLocally(
      configuration(),
      { ...common, userSub: args.sub },
      progress.show,
      interrupted.signal,
    )
  } else {
    const url = args.url ?? serviceUrl()
    process.stderr.write(
      `uploading ${args.file} (${(bytes / 1e6).toFixed(1)} MB) to ${url}, business ${args.business}\n`,
    )
    finished = await importOverHttp(
      {
        ...common,
        url,
        token: tokenToSend(),
        fileBytes: bytes,
        ...(args['idempotency-key'] ? { idempotencyKey: args['idempotency-key'] } : {}),
      },
      progress.show,
      (location) => {
        importUrl = location
      },
    )
  }
} catch (error) {
  progress.stop()
  if (error instanceof ImportFailure) fail(error.message)
  if (interrupted.signal.aborted)
    fail('interrupted; the workers (npm start or npm run worker) resume the import')
  throw error
}
progress.stop()
process.stdout.write(summary(finished, (Date.now() - began) / 1000))
process.exit(exitCodeOf(finished.import))
