import { readFileSync } from 'node:fs'
import Fastify from 'fastify'
import t from 'tap'
import { parse } from 'yaml'
import app from '../app.js'
import { loadOpenApiDocument, OPENAPI_PATH } from '../lib/openapi-document.js'
import { serverOptions } from '../server-options.js'
import { toOpenApiPath } from './contract.js'
import { build, testConfig, testDatabase } from './helper.js'
import { documentOperations } from './support/openapi.js'

const METHODS = ['get', 'put', 'post', 'patch', 'delete', 'options', 'head', 'trace'] as const

interface DocumentOperation {
  key: string
  method: string
  path: string
  operationId?: unknown
  tags?: unknown
}

interface ServedRoute {
  key: string
  operationId?: unknown
}

const document = loadOpenApiDocument()

function operationsIn(items: Record<string, Record<string, unknown>>): DocumentOperation[] {
  return Object.entries(items).flatMap(([path, item]) =>
    METHODS.filter((method) => item[method] !== undefined).map((method) => {
      const operation = item[method] as { operationId?: unknown; tags?: unknown }
      return {
        key: `${method.toUpperCase()} ${path}`,
        method: method.toUpperCase(),
        path,
        operationId: operation.operationId,
        tags: operation.tags,
      }
    }),
  )
}

const pathOperations = operationsIn(document.paths)
const webhookOperations = operationsIn(document.webhooks ?? {})

/** Every route the app registers, seen by an onRoute hook added before the app. */
async function servedRoutes(): Promise<ServedRoute[]> {
  const fastify = Fastify(serverOptions({ logLevel: 'silent' }))
  const routes: ServedRoute[] = []
  fastify.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method]
    for (const method of methods) {
      if (method === 'HEAD') continue
      if (route.url === '/docs' || route.url.startsWith('/docs/') || route.url === '*') continue
      routes.push({
        key: `${method} ${toOpenApiPath(route.url)}`,
        operationId: (route.schema as { operationId?: unknown } | undefined)?.operationId,
      })
    }
  })
  await fastify.register(app, { config: testConfig(), database: await testDatabase() })
  await fastify.ready()
  await fastify.close()
  return routes
}

t.test('every operation has an operationId and declared tags', async (t) => {
  const declaredTags = new Set(((document.tags ?? []) as { name: string }[]).map((tag) => tag.name))
  const all = [...pathOperations, ...webhookOperations]
  t.ok(all.length > 0, 'the document has operations')
  for (const operation of all) {
    t.ok(
      typeof operation.operationId === 'string' &&
        /^[a-z][A-Za-z0-9]*$/.test(operation.operationId),
      `${operation.key}: camelCase operationId`,
    )
    const tags = operation.tags
    t.ok(Array.isArray(tags) && tags.length > 0, `${operation.key}: has tags`)
    for (const tag of Array.isArray(tags) ? tags : []) {
      t.ok(declaredTags.has(String(tag)), `${operation.key}: tag ${String(tag)} is declared`)
    }
  }
  const ids = all.map((operation) => operation.operationId)
  t.equal(new Set(ids).size, ids.length, 'operationIds are unique')
})

t.test('the app serves exactly the operations of the document', async (t) => {
  const { app: fastify } = await build(t)
  for (const operation of pathOperations) {
    const url = operation.path.replace(/\{([A-Za-z0-9_]+)\}/g, ':$1')
    t.ok(
      fastify.hasRoute({ method: operation.method as 'GET', url }),
      `${operation.key} (${String(operation.operationId)}) is served`,
    )
  }

  const served = await servedRoutes()
  t.ok(served.length > 0, 'routes were collected')
  const documented = new Map(pathOperations.map((operation) => [operation.key, operation]))
  for (const route of served) {
    const operation = documented.get(route.key)
    if (!t.ok(operation, `${route.key} is in the document`)) continue
    t.equal(
      route.operationId,
      operation?.operationId,
      `${route.key}: the route's operationId is the document's`,
    )
  }
  const servedKeys = new Set(served.map((route) => route.key))
  for (const operation of pathOperations) {
    t.ok(servedKeys.has(operation.key), `${operation.key}: a route carries it`)
  }
})

t.test('/openapi.json is the document in openapi/openapi.yaml', async (t) => {
  const { inject } = await build(t)
  const response = await inject({ method: 'GET', url: '/openapi.json' })
  t.equal(response.statusCode, 200, 'status')
  t.match(response.headers['content-type'], /^application\/json/, 'content type')
  t.strictSame(
    response.json(),
    // Parsed afresh: the process-wide parsed copy must not have been changed by any plugin.
    JSON.parse(JSON.stringify(parse(readFileSync(OPENAPI_PATH, 'utf8'), { merge: true }))),
    'deep-equals the YAML document',
  )
})

t.test('/docs answers with the Swagger UI page', async (t) => {
  const { inject } = await build(t)
  let response = await inject({ method: 'GET', url: '/docs' })
  if (response.statusCode >= 300 && response.statusCode < 400) {
    const location = String(response.headers.location ?? '')
    t.ok(location.startsWith('/docs') || location.startsWith('./'), `redirects within /docs`)
    const target = location.startsWith('./') ? `/docs/${location.slice(2)}` : location
    response = await inject({ method: 'GET', url: target })
  }
  t.equal(response.statusCode, 200, 'status')
  t.match(response.headers['content-type'], /^text\/html/, 'content type')
  t.match(response.body, /swagger/i, 'the Swagger UI page')
})

interface WriteOperation {
  operationId?: string
  parameters?: unknown[]
  responses?: Record<string, { $ref?: string; headers?: Record<string, unknown> }>
}

const refName = (node: unknown): string | undefined =>
  (node as { $ref?: string } | undefined)?.$ref?.split('/').at(-1)

/** Every POST, PATCH and DELETE under /api/customers/{businessId} (SPEC, "Safe writes"). */
const customerWrites = documentOperations<WriteOperation>(document).filter(
  ({ path, method }) =>
    path.startsWith('/api/customers/{businessId}') && ['post', 'patch', 'delete'].includes(method),
)

/** The operations whose answers carry a customer or its preferences, with their success status. */
const VERSIONED: Record<string, string> = {
  createCustomer: '201',
  getCustomer: '200',
  updateCustomer: '200',
  deleteCustomer: '200',
  updatePreferences: '200',
}
const CONDITIONAL = ['updateCustomer', 'deleteCustomer', 'updatePreferences']

t.test('every customer write documents Idempotency-Key, 409 and 422', async (t) => {
  t.ok(customerWrites.length >= 5, 'the writes were found')
  for (const { operation, parameters } of customerWrites) {
    const id = String(operation.operationId)
    t.ok(
      parameters.some((parameter) => refName(parameter) === 'IdempotencyKey'),
      `${id}: Idempotency-Key`,
    )
    // Shared, or spelt out where the write has its own 409 or 422 too (a merge's, an erased
    // customer's) and says so — inline or in the shared response it names.
    const components = (document as { components?: { responses?: Record<string, unknown> } })
      .components?.responses
    const documents = (status: string, shared: string) => {
      const given = operation.responses?.[status]
      const name = refName(given)
      const response = (name ? components?.[name] : given) as { description?: string } | undefined
      return name === shared || (response?.description ?? '').includes('Idempotency-Key')
    }
    t.ok(documents('409', 'RequestInProgress'), `${id}: 409`)
    t.ok(documents('422', 'IdempotencyKeyReused'), `${id}: 422`)
    const success = Object.entries(operation.responses ?? {}).find(([status]) =>
      status.startsWith('2'),
    )
    t.ok(success?.[1].headers?.['Idempotent-Replayed'], `${id}: Idempotent-Replayed on success`)
  }
})

t.test('versioned answers document ETag; conditional writes If-Match and 412', async (t) => {
  const byId = new Map(
    documentOperations<WriteOperation>(document).map((entry) => [
      String(entry.operation.operationId),
      entry,
    ]),
  )
  for (const [id, status] of Object.entries(VERSIONED)) {
    const headers = byId.get(id)?.operation.responses?.[status]?.headers
    t.equal(refName(headers?.ETag), 'ETag', `${id} ${status}: ETag`)
  }
  for (const id of CONDITIONAL) {
    const entry = byId.get(id)
    t.ok(
      entry?.parameters.some((parameter) => refName(parameter) === 'IfMatch'),
      `${id}: If-Match`,
    )
    t.equal(refName(entry?.operation.responses?.['412']), 'PreconditionFailed', `${id}: 412`)
  }
})

t.test('every customer write opts into the idempotency plugin', async (t) => {
  const fastify = Fastify(serverOptions({ logLevel: 'silent' }))
  const idempotent = new Map<string, boolean>()
  fastify.addHook('onRoute', (route) => {
    const id = (route.schema as { operationId?: unknown } | undefined)?.operationId
    if (typeof id === 'string') idempotent.set(id, route.config?.idempotent === true)
  })
  await fastify.register(app, { config: testConfig(), database: await testDatabase() })
  await fastify.ready()
  await fastify.close()
  for (const { operation } of customerWrites) {
    const id = String(operation.operationId)
    t.equal(idempotent.get(id), true, `${id}: config.idempotent`)
  }
  t.equal(idempotent.get('getCustomer'), false, 'reads do not opt in')
})
