import { parseArgs } from 'node:util'
import type { Option } from '../cli.js'

/**
 * `argv` with its bare arguments written as `--<name> <argument>`, so `npm run import -- --business
 * 5 customers.csv` and `--file customers.csv` are one option to scripts/cli.ts (which takes no bare
 * arguments): a second file is then "given more than once", none "required". `options` says which
 * flags take a value, so the value of `--business 5` is not mistaken for a bare argument.
 */
export function withBareArgumentAs(
  name: string,
  options: Record<string, Option<unknown>>,
  argv: string[],
): string[] {
  const { tokens } = parseArgs({
    args: argv,
    strict: false,
    allowPositionals: true,
    tokens: true,
    options: Object.fromEntries(
      Object.entries(options).map(([option, { takesValue }]) => [
        option,
        { type: takesValue ? 'string' : 'boolean' },
      ]),
    ),
  })
  const bare = new Set(
    tokens.flatMap((token) => (token.kind === 'positional' ? [token.index] : [])),
  )
  return argv.flatMap((arg, index) => (bare.has(index) ? [`--${name}`, arg] : [arg]))
}
