/**
 * Records every distinct SQL text a test process sends (pg clients and PGlite alike), with where
 * it was written, for the business_id check after the suite (test/setup/statement-check.ts).
 */
import { existsSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { PGlite } from '@electric-sql/pglite'
import { DefaultQueryCompiler } from 'kysely'
import pg from 'pg'

/** Who wrote a statement: the service (checked), a test itself, or a migration (not checked). */
export type Origin = 'service' | 'test' | 'migration' | 'unknown'

export interface CapturedStatement {
  sql: string
  origins: Origin[]
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

export const STATEMENTS_ROOT = `${ROOT}.tap/statements/`

/** One folder per tap runner (the parent of the before step and of every test file). */
export const statementsFolder = (runner = process.ppid): string => `${STATEMENTS_ROOT}${runner}/`

/** Enough for every statement of a file; texts built from values would otherwise grow forever. */
const MAX_STATEMENTS = 20_000

const sent = new Map<string, Set<Origin>>()
const compiled = new Map<string, Set<Origin>>()

/** The first frame of the stack that is the project's own code, by its folder. */
function originOf(stack: string | undefined): Origin {
  for (const line of (stack ?? '').split('\n').slice(1)) {
    const path = /(?:file:\/\/)?(\/[^:()\s]+):\d+:\d+\)?$/.exec(line)?.[1]
    if (!path?.startsWith(ROOT) || path.includes('/node_modules/')) continue
    const file = path.slice(ROOT.length)
    if (file === 'test/support/statement-capture.ts') continue
    if (file.startsWith('test/')) return 'test'
    if (file.startsWith('migrations/')) return 'migration'
    return 'service'
  }
  return 'unknown'
}

function here(): Origin {
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = 50
  const { stack } = new Error()
  Error.stackTraceLimit = limit
  return originOf(stack)
}

function note(map: Map<string, Set<Origin>>, text: string): void {
  const origins = map.get(text) ?? new Set<Origin>()
  // A text the service sends once is the service's, whoever else sends it.
  if (origins.has('service') || (!map.has(text) && map.size >= MAX_STATEMENTS)) return
  origins.add(here())
  map.set(text, origins)
}

/** A text sent to a database; where Kysely built it, it knows already who wrote it. */
function send(text: unknown): void {
  if (typeof text !== 'string') return
  if (!sent.has(text) && sent.size >= MAX_STATEMENTS) return
  sent.set(text, sent.get(text) ?? new Set())
  if (!compiled.has(text)) note(sent, text)
}

/** What this process has sent so far, each text once. */
export function capturedStatements(): CapturedStatement[] {
  return [...sent].map(([sql, origins]) => {
    const all = new Set([...origins, ...(compiled.get(sql) ?? [])])
    return { sql, origins: all.size > 0 ? [...all] : ['unknown'] }
  })
}

let installed = false

/**
 * Starts recording in this process when the suite's before step asked for it (its folder
 * exists); the statements are written when the process exits.
 */
export function captureStatements(): void {
  const folder = statementsFolder()
  if (installed || !existsSync(folder)) return
  installed = true

  const compile = DefaultQueryCompiler.prototype.compileQuery
  DefaultQueryCompiler.prototype.compileQuery = function (this: DefaultQueryCompiler, ...args) {
    const query = compile.apply(this, args)
    note(compiled, query.sql)
    return query
  }

  const pgQuery = pg.Client.prototype.query
  pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]): unknown {
    const [first] = args
    send(typeof first === 'object' && first !== null ? (first as { text?: unknown }).text : first)
    return Reflect.apply(pgQuery, this, args)
  } as typeof pgQuery

  const pgliteQuery = PGlite.prototype.query
  PGlite.prototype.query = function (this: PGlite, ...args: unknown[]): unknown {
    send(args[0])
    return Reflect.apply(pgliteQuery, this, args)
  } as typeof pgliteQuery

  const pgliteExec = PGlite.prototype.exec
  PGlite.prototype.exec = function (this: PGlite, ...args: unknown[]): unknown {
    send(args[0])
    return Reflect.apply(pgliteExec, this, args)
  } as typeof pgliteExec

  process.on('exit', () => {
    if (sent.size > 0)
      writeFileSync(`${folder}${process.pid}.json`, JSON.stringify(capturedStatements(), null, 1))
  })
}
