import swaggerUi, { type FastifySwaggerUiOptions } from '@fastify/swagger-ui'
import type { FastifyInstance } from 'fastify'

const ROUTE_PREFIX = '/docs'
const INITIALIZER = `${ROUTE_PREFIX}/static/swagger-initializer.js`
/** How @fastify/swagger-ui 6 points the page at its own copy of the document, `/docs/json`. */
const LIBRARY_DOCUMENT_URL = "url: resolveUrl('./json')"
/** `/openapi.json`, the address the README gives, relative to `/docs/` so a path prefix still works. */
const SERVICE_DOCUMENT_URL = "url: resolveUrl('../openapi.json')"

export const swaggerUiOptions: FastifySwaggerUiOptions = {
  routePrefix: ROUTE_PREFIX,
  uiConfig: {
    persistAuthorization: true,
    displayRequestDuration: true,
    tryItOutEnabled: true,
    // No badge from validator.swagger.io: the page loads nothing from other origins (CSP).
    validatorUrl: null,
  },
}

/**
 * Swagger UI at /docs, with "Authorize" for the bearer token, reading and showing
 * `/openapi.json`. The library fixes the document's address in its initializer script
 * (`uiConfig.url` is overridden), so that one answer is rewritten here; the hook lives in this
 * plugin's own context and sees only Swagger UI's routes. If a new version writes the line
 * differently the script is served unchanged (the page still works, on `/docs/json`) and
 * test/plugins/swagger-ui.test.ts fails. https://github.com/fastify/fastify-swagger-ui
 */
export default async function swaggerUiPlugin(
  fastify: FastifyInstance,
  options: FastifySwaggerUiOptions,
): Promise<void> {
  fastify.addHook('onSend', async (request, _reply, payload) => {
    if (request.routeOptions.url !== INITIALIZER || typeof payload !== 'string') return payload
    return payload.replace(LIBRARY_DOCUMENT_URL, SERVICE_DOCUMENT_URL)
  })
  await fastify.register(swaggerUi, options)
}
