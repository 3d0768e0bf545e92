import { fileURLToPath } from 'node:url'
import { ESLint } from 'eslint'
import t from 'tap'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const eslint = new ESLint({ cwd: ROOT })

/** The rule ids ESLint reports for this text as if it were the file at `path`. */
async function violations(path: string, text: string): Promise<string[]> {
  const [result] = await eslint.lintText(text, { filePath: `${ROOT}${path}` })
  return (result?.messages ?? []).map((message) => message.ruleId ?? 'parse error')
}

const cases: { name: string; path: string; text: string; rule?: string }[] = [
  {
    name: 'a service importing Fastify',
    path: 'services/example.ts',
    text: "import type { FastifyInstance } from 'fastify'\nexport type A = FastifyInstance\n",
    rule: 'no-restricted-imports',
  },
  {
    name: 'a service importing lib/http-errors',
    path: 'services/example.ts',
    text: "import { HttpError } from '../lib/http-errors.js'\nexport const a = HttpError\n",
    rule: 'no-restricted-imports',
  },
  {
    name: 'a route importing a query module',
    path: 'routes/example.ts',
    text: "import { insertNote } from '../db/customer-notes.js'\nexport const a = insertNote\n",
    rule: 'no-restricted-imports',
  },
  {
    name: 'a route importing Kysely',
    path: 'routes/example.ts',
    text: "import { sql } from 'kysely'\nexport const a = sql\n",
    rule: 'no-restricted-imports',
  },
  {
    name: 'a route opening a transaction',
    path: 'routes/example.ts',
    text: 'export const run = (db: { transaction(): unknown }) => db.transaction()\n',
    rule: 'no-restricted-syntax',
  },
  {
    name: 'a route holding SQL',
    path: 'routes/example.ts',
    text: 'declare const sql: (parts: TemplateStringsArray) => string\nexport const q = sql`select 1`\n',
    rule: 'no-restricted-syntax',
  },
  {
    name: 'a query module importing a service',
    path: 'db/example.ts',
    text: "import { createCustomer } from '../services/customers.js'\nexport const a = createCustomer\n",
    rule: 'no-restricted-imports',
  },
  {
    name: 'a route calling a service (allowed)',
    path: 'routes/example.ts',
    text: "import { addNote } from '../services/notes.js'\nexport const a = addNote\n",
  },
]

t.test('the layer rules refuse imports and code against the direction', async (t) => {
  for (const { name, path, text, rule } of cases) {
    const found = await violations(path, text)
    if (rule) t.ok(found.includes(rule), `${name}: ${rule} reported (got ${found.join(', ')})`)
    else t.strictSame(found, [], `${name}: nothing reported`)
  }
})

t.test('the code base itself keeps the layers', async (t) => {
  const results = await eslint.lintFiles(['services', 'routes', 'db'])
  const layerProblems = results.flatMap((result) =>
    result.messages
      .filter((message) =>
        ['no-restricted-imports', 'no-restricted-syntax'].includes(message.ruleId ?? ''),
      )
      .map((message) => `${result.filePath}:${message.line} ${message.message}`),
  )
  t.strictSame(layerProblems, [], 'no layer violations in services/, routes/ and db/')
  t.ok(results.length > 10, `files were linted (${results.length})`)
})
