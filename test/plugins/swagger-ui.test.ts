import { runInNewContext } from 'node:vm'
import t from 'tap'
import { build } from '../helper.js'

/** What the served initializer hands to SwaggerUIBundle when the page is at `pageUrl`. */
function swaggerUiConfig(initializer: string, pageUrl: string): Record<string, unknown> {
  let config: Record<string, unknown> | undefined
  const window: { location: { href: string }; onload?: () => void } = {
    location: { href: pageUrl },
  }
  const SwaggerUIBundle = Object.assign(
    (options: Record<string, unknown>) => {
      config = options
      return { initOAuth: () => undefined }
    },
    { presets: { apis: 'apis' }, plugins: { DownloadUrl: 'download-url' } },
  )
  const document = {
    // The logo is swapped into the top bar once it renders; any element will do here.
    querySelector: () => ({ innerHTML: '', appendChild: () => undefined }),
    // The browser resolves an anchor's href against the page; URL does the same here.
    createElement: () => {
      let href = ''
      return {
        get href() {
          return href
        },
        set href(value: string) {
          href = new URL(value).href
        },
      }
    },
  }
  runInNewContext(initializer, {
    window,
    document,
    SwaggerUIBundle,
    SwaggerUIStandalonePreset: 'standalone',
    URL,
  })
  window.onload?.()
  if (!config) throw new Error('the initializer did not start Swagger UI')
  return config
}

t.test("Swagger UI reads and shows /openapi.json, the README's address", async (t) => {
  const { app } = await build(t)
  const initializer = await app.inject({
    method: 'GET',
    url: '/docs/static/swagger-initializer.js',
  })
  t.equal(initializer.statusCode, 200, 'the initializer is served')
  t.match(initializer.headers['content-type'], /javascript/, 'as a script')

  for (const page of ['http://127.0.0.1:3000/docs', 'http://127.0.0.1:3000/docs/']) {
    const config = swaggerUiConfig(initializer.body, page)
    t.equal(config.url, 'http://127.0.0.1:3000/openapi.json', `from ${page}: the explore box`)
    t.equal(config.validatorUrl, null, `from ${page}: the rest of uiConfig is kept`)
    t.equal(config.persistAuthorization, true, `from ${page}: authorization persists`)
  }
  const behindPrefix = swaggerUiConfig(initializer.body, 'https://shop.payme.test/customers/docs/')
  t.equal(
    behindPrefix.url,
    'https://shop.payme.test/customers/openapi.json',
    'behind a path prefix, the document beside /docs',
  )

  const document = await app.inject({ method: 'GET', url: '/openapi.json' })
  t.equal(document.statusCode, 200, 'the address it shows serves the document')
  t.equal(document.json<{ openapi: string }>().openapi, '3.1.0', 'the OpenAPI document')
})
