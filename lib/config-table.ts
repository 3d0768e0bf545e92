import { EnvironmentSchema } from './config.js'

interface Documented {
  default?: unknown
  description?: string
}

/** The README's configuration table, made from the one schema the service validates with. */
export function configurationTable(): string {
  const rows = Object.entries(EnvironmentSchema.properties).map(([name, schema]) => {
    const { default: defaultValue, description } = schema as Documented
    const shown = defaultValue === undefined ? '—' : `\`${String(defaultValue)}\``
    return `| \`${name}\` | ${shown} | ${description ?? ''} |`
  })
  return ['| variable | default | meaning |', '|---|---|---|', ...rows].join('\n')
}

export const CONFIG_TABLE_START = '<!-- configuration table: npm run docs:config -->'
export const CONFIG_TABLE_END = '<!-- end of configuration table -->'

/** The README with its configuration table replaced by the current one. */
export function withConfigurationTable(readme: string): string {
  const start = readme.indexOf(CONFIG_TABLE_START)
  const end = readme.indexOf(CONFIG_TABLE_END)
  if (start < 0 || end < start) throw new Error('README.md has no configuration table markers')
  return `${readme.slice(0, start + CONFIG_TABLE_START.length)}\n\n${configurationTable()}\n\n${readme.slice(end)}`
}
