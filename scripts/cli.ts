/**
 * The command line of every script, on node:util parseArgs: each option is declared once with
 * its description and default, `--help` prints them, and a wrong command line is answered with
 * one line saying what is wrong and the usage line on stderr, exit code 2, never a stack trace.
 */
import { parseArgs } from 'node:util'

/** A wrong command line; its message is the one line the user sees. */
export class UsageError extends Error {}

/** What a flag's text must be: `read` answers undefined for a text that is not one. */
export interface ValueType<T> {
  /** Names the expected value in an error: "--hours takes a positive integer, not \"abc\"". */
  expected: string
  read: (text: string) => T | undefined
}

export const positiveInteger: ValueType<number> = {
  expected: 'a positive integer',
  read: (text) => (/^[1-9]\d{0,14}$/.test(text) ? Number(text) : undefined),
}

export const nonNegativeInteger: ValueType<number> = {
  expected: 'a whole number',
  read: (text) => (/^(0|[1-9]\d{0,14})$/.test(text) ? Number(text) : undefined),
}

export const portNumber: ValueType<number> = {
  expected: 'a port number (0-65535)',
  read: (text) => (/^\d{1,5}$/.test(text) && Number(text) <= 65535 ? Number(text) : undefined),
}

export const nonEmptyText: ValueType<string> = {
  expected: 'a value',
  read: (text) => (text.trim() === '' ? undefined : text),
}

export const httpUrl: ValueType<string> = {
  expected: 'an http:// or https:// URL',
  read: (text) => {
    if (!URL.canParse(text)) return undefined
    const url = new URL(text)
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.origin : undefined
  },
}

export function oneOf<const Choice extends string>(choices: readonly Choice[]): ValueType<Choice> {
  return {
    expected: `one of ${choices.join(', ')}`,
    read: (text) => choices.find((choice) => choice === text),
  }
}

interface Help {
  /** Shown after the flag: `--business <id>`; absent for a flag without a value. */
  placeholder?: string
  description: string
  /** What applies when the option is absent, or "required". */
  absent?: string
}

/** One option; `R` is what the script receives. */
export interface Option<R> {
  help: Help
  required: boolean
  multiple: boolean
  takesValue: boolean
  resolve: (texts: string[], name: string) => R
}

function readValue<T>(type: ValueType<T>, text: string, name: string): T {
  const value = type.read(text)
  if (value === undefined) {
    throw new UsageError(`--${name} takes ${type.expected}, not ${JSON.stringify(text)}`)
  }
  return value
}

/** The option's value, or undefined when it was not given. */
function readOne<T>(type: ValueType<T>, texts: string[], name: string): T | undefined {
  const [text] = texts
  return text === undefined ? undefined : readValue(type, text, name)
}

/** An on/off switch: true when given. */
export function flag(description: string): Option<boolean> {
  return {
    help: { description },
    required: false,
    multiple: false,
    takesValue: false,
    resolve: (texts) => texts.length > 0,
  }
}

interface ValueHelp {
  placeholder: string
  description: string
}

/** A value with a default, stated in --help. */
export function withDefault<T>(
  type: ValueType<T>,
  help: ValueHelp & { default: NoInfer<T>; shown?: string },
): Option<T> {
  return {
    help: { ...help, absent: `default: ${help.shown ?? String(help.default)}` },
    required: false,
    multiple: false,
    takesValue: true,
    resolve: (texts, name) => readOne(type, texts, name) ?? help.default,
  }
}

/** A value the script may do without; `absent` says in --help what happens then. */
export function optional<T>(
  type: ValueType<T>,
  help: ValueHelp & { absent: string },
): Option<T | undefined> {
  return {
    help,
    required: false,
    multiple: false,
    takesValue: true,
    resolve: (texts, name) => readOne(type, texts, name),
  }
}

/** A value the script cannot run without. */
export function required<T>(type: ValueType<T>, help: ValueHelp): Option<T> {
  return {
    help: { ...help, absent: 'required' },
    required: true,
    multiple: false,
    takesValue: true,
    resolve: (texts, name) => {
      const value = readOne(type, texts, name)
      if (value === undefined) throw new UsageError(`--${name} is required`)
      return value
    },
  }
}

/** A value given once or more (`--business 5 --business 6`), at least once. */
export function repeated<T>(type: ValueType<T>, help: ValueHelp): Option<T[]> {
  return {
    help: { ...help, absent: 'required; repeat it for several' },
    required: true,
    multiple: true,
    takesValue: true,
    resolve: (texts, name) => {
      if (texts.length === 0) throw new UsageError(`--${name} is required`)
      return texts.map((text) => readValue(type, text, name))
    },
  }
}

type Options = Record<string, Option<unknown>>
export type Parsed<O extends Options> = { [K in keyof O]: O[K] extends Option<infer R> ? R : never }

export interface Command<O extends Options> {
  /** How the user runs it: `npm run token`. */
  command: string
  /** What it does, for --help. */
  summary: string
  options: O
  /** Rules between options; a string is the usage error. */
  check?: (values: Parsed<O>) => string | undefined
}

export function usageLine<O extends Options>(spec: Command<O>): string {
  const parts = Object.entries(spec.options).map(([name, option]) => {
    const text = `--${name}${option.help.placeholder ? ` ${option.help.placeholder}` : ''}`
    if (option.required) return option.multiple ? `${text}...` : text
    return `[${text}]`
  })
  return `usage: ${spec.command}${parts.length > 0 ? ` -- ${parts.join(' ')}` : ''}`
}

export function helpText<O extends Options>(spec: Command<O>): string {
  const rows: [string, string][] = Object.entries(spec.options).map(([name, option]) => [
    `--${name}${option.help.placeholder ? ` ${option.help.placeholder}` : ''}`,
    option.help.absent
      ? `${option.help.description} (${option.help.absent})`
      : option.help.description,
  ])
  rows.push(['-h, --help', 'prints this help'])
  const width = Math.max(...rows.map(([left]) => left.length))
  const indent = ' '.repeat(width + 4)
  const table = rows
    .map(([left, right]) => {
      const lines = wrapped(right, Math.max(40, 100 - indent.length)).split('\n')
      return `  ${left.padEnd(width)}  ${lines.join(`\n${indent}`)}`
    })
    .join('\n')
  return `${usageLine(spec)}\n\n${wrapped(spec.summary)}\n\noptions:\n${table}\n`
}

/** Each line of `text` broken between words to fit `width` columns. */
function wrapped(text: string, width = 100): string {
  return text
    .split('\n')
    .map((line) =>
      line
        .split(' ')
        .reduce<string[]>((lines, word) => {
          const last = lines.at(-1)
          if (last !== undefined && last.length + 1 + word.length <= width) {
            lines[lines.length - 1] = `${last} ${word}`
          } else lines.push(word)
          return lines
        }, [])
        .join('\n'),
    )
    .join('\n')
}

/** parseArgs' own messages, in the same one-line form as ours. */
function reworded(error: Error & { code?: string }): string {
  const option = /'(-{1,2}[^' ]+)/.exec(error.message)?.[1]
  switch (error.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown option ${option ?? ''}`.trim()
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument ${/'([^']*)'/.exec(error.message)?.[1] ?? ''} (options start with --)`
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      if (/does not take/.test(error.message)) return `${option} takes no value`
      return /ambiguous/.test(error.message)
        ? `${option} needs a value (one starting with - is written ${option}=-…)`
        : `${option} needs a value`
    default:
      return error.message.split('\n')[0] ?? 'invalid command line'
  }
}

/**
 * The options given in `argv`, or `'help'` when --help (or -h) is among them. Throws a
 * UsageError for an unknown option, a missing or bad value, or a broken rule.
 */
export function readCommandLine<O extends Options>(
  spec: Command<O>,
  argv: string[],
): Parsed<O> | 'help' {
  const beforeTerminator = argv.includes('--') ? argv.slice(0, argv.indexOf('--')) : argv
  if (beforeTerminator.some((arg) => arg === '--help' || arg === '-h')) return 'help'
  let parsed: ReturnType<typeof parseArgs>
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      tokens: true,
      options: Object.fromEntries(
        Object.entries(spec.options).map(([name, option]) => [
          name,
          { type: option.takesValue ? 'string' : 'boolean', multiple: true },
        ]),
      ),
    })
  } catch (error) {
    throw new UsageError(reworded(error as Error))
  }
  const values: Record<string, unknown> = {}
  for (const [name, option] of Object.entries(spec.options)) {
    const given = parsed.values[name]
    const texts = (Array.isArray(given) ? given : []).map((item) =>
      typeof item === 'string' ? item : '',
    )
    if (!option.multiple && texts.length > 1) {
      throw new UsageError(`--${name} is given more than once`)
    }
    values[name] = option.resolve(texts, name)
  }
  const result = values as Parsed<O>
  const broken = spec.check?.(result)
  if (broken) throw new UsageError(broken)
  return result
}

/**
 * The options of this process's command line. Prints the help and exits 0 on --help; prints
 * what is wrong and the usage line and exits 2 on a wrong command line.
 */
export function parseCommandLine<O extends Options>(
  spec: Command<O>,
  argv: string[] = process.argv.slice(2),
): Parsed<O> {
  try {
    const result = readCommandLine(spec, argv)
    if (result !== 'help') return result
    process.stdout.write(helpText(spec))
    process.exit(0)
  } catch (error) {
    if (!(error instanceof UsageError)) throw error
    exitWithUsage(spec, error.message)
  }
}

/** What is wrong, then the usage line, on stderr; exit code 2. */
export function exitWithUsage<O extends Options>(spec: Command<O>, message: string): never {
  process.stderr.write(`${spec.command}: ${message}\n${usageLine(spec)}\n`)
  process.exit(2)
}
