import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import t from 'tap'
import { withConfigurationTable } from '../lib/config-table.js'
import { sign } from '../lib/webhook-signature.js'

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8')
const scripts = Object.keys(
  (
    JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      scripts: Record<string, string>
    }
  ).scripts,
)

t.test('the first screen shows the two commands', async (t) => {
  const firstScreen = readme.split('\n').slice(0, 25).join('\n')
  t.match(firstScreen, /npm install && npm start/)
  t.match(firstScreen, /npm test/)
})

t.test('the configuration table is the one lib/config.ts makes', async (t) => {
  // Prettier pads the table's columns; compare the cells, not the padding.
  const cells = (text: string): string => text.replace(/ *\| */g, '|').replace(/-{3,}/g, '---')
  t.equal(cells(withConfigurationTable(readme)), cells(readme), 'run `npm run docs:config`')
})

t.test('every script the README names exists', async (t) => {
  const named = new Set(
    [...readme.matchAll(/npm run(?: -s)? ([a-z:-]+)/g)].map((match) => match[1]!),
  )
  t.ok(named.size > 5, 'the README names scripts')
  for (const script of named) t.ok(scripts.includes(script), `npm run ${script} exists`)
})

t.test("the README's openssl signing recipe gives the service's signature", async (t) => {
  const body = '{"id":"evt_1","type":"sale.completed"}'
  const secret = 'change-me-to-a-long-random-value'
  const timestamp = 1795687141
  const script = `printf '%s.%s' "$T" "$BODY" | openssl dgst -sha256 -hmac "$SECRET" -hex | sed 's/^.* //'`
  t.match(
    readme,
    script
      .replace('$T', '$t')
      .replace('$BODY', '$body')
      .replace('$SECRET', '$SALES_WEBHOOK_SECRET'),
  )
  const output = execFileSync('bash', ['-c', script], {
    env: { ...process.env, T: String(timestamp), BODY: body, SECRET: secret },
  })
  t.equal(output.toString().trim(), sign(secret, timestamp, body))
})
