/** `npm run docs:config`: rewrites the README's configuration table from lib/config.ts. */
import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import * as prettier from 'prettier'
import { withConfigurationTable } from '../lib/config-table.js'
import { parseCommandLine } from './cli.js'

parseCommandLine({
  command: 'npm run docs:config',
  summary: "Rewrites README.md's configuration table from the schema in lib/config.ts.",
  options: {},
})

const README = fileURLToPath(new URL('../README.md', import.meta.url))
const updated = withConfigurationTable(readFileSync(README, 'utf8'))
const options = (await prettier.resolveConfig(README)) ?? {}
writeFileSync(README, await prettier.format(updated, { ...options, filepath: README }))
console.log('README.md configuration table updated')
