import { existsSync, mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'
import t from 'tap'
import { build, tokenFor } from '../helper.js'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const OUTPUT = fileURLToPath(new URL('../../test-output/', import.meta.url))
export const SCREENSHOT = `${OUTPUT}swagger-ui-create-customer.png`
const BUSINESS = 71

const missing = existsSync(CHROMIUM)
  ? undefined
  : `no Chromium at ${CHROMIUM} (apt-get install -y chromium)`
if (missing && process.env.REQUIRE_BROWSER === '1') {
  throw new Error(`REQUIRE_BROWSER=1 but ${missing}`)
}

t.test(
  'a person authorizes in Swagger UI and creates a customer with "Try it out"',
  { skip: missing },
  async (t) => {
    const { app, database } = await build(t)
    const address = await app.listen({ port: 0, host: '127.0.0.1' })
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    })
    t.teardown(() => browser.close())
    const page = await browser.newPage({ viewport: { width: 1280, height: 1100 } })
    const consoleErrors: string[] = []
    page.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(message.text())
    })

    await page.goto(`${address}/docs`)
    t.equal(
      await page.locator('input.download-url-input').inputValue(),
      `${address}/openapi.json`,
      "the explore box shows the service's document",
    )
    await page.locator('button.authorize').first().click()
    const bearer = page.locator('.auth-container').filter({ hasText: 'bearerAuth' })
    await bearer.locator('input').fill(tokenFor({ sub: 3, businesses: [BUSINESS] }))
    await bearer.locator('button.authorize').click()
    await page.locator('button.btn-done').first().click()

    const operation = page.locator('#operations-customers-createCustomer')
    await operation.locator('.opblock-summary').click()
    // Try-it-out may already be on (uiConfig.tryItOutEnabled); the button then says Cancel.
    const tryOut = operation.locator('button.try-out__btn')
    if ((await tryOut.innerText()).includes('Try it out')) await tryOut.click()
    await operation.locator('tr[data-param-name="businessId"] input').fill(String(BUSINESS))
    await operation.locator('button.execute').click()

    const answer = operation.locator('.live-responses-table tbody tr.response')
    await answer.waitFor()
    const status = (await answer.locator('.response-col_status').innerText()).trim()
    const body = await answer.locator('.response-col_description pre').first().innerText()
    mkdirSync(OUTPUT, { recursive: true })
    await answer.scrollIntoViewIfNeeded()
    await page.screenshot({ path: SCREENSHOT })
    t.comment(`screenshot: ${SCREENSHOT}`)

    t.equal(status, '201', 'Swagger UI shows 201')
    t.match(body, /"message": "Customer created successfully"/, 'and the created customer')
    const rows = await database.db
      .selectFrom('customers')
      .select(['name', 'customer_type'])
      .where('business_id', '=', BUSINESS)
      .execute()
    t.same(
      rows,
      [{ name: 'Wanjiru Kamau', customer_type: 'regular' }],
      'the row is in the database',
    )
    t.same(consoleErrors, [], 'no errors in the browser console (CSP included)')
  },
)
