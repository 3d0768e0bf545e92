import type { FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'

type JsonObject = Record<string, unknown>
type PropertySchemas = Record<string, { minLength?: number } | undefined>

const isObject = (value: unknown): value is JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/**
 * Trims strings before validation. In a body, an empty string stands for "absent" unless the
 * field cannot be empty (minLength ≥ 1, e.g. `name`), which then fails validation by name.
 */
function normaliseBody(body: JsonObject, properties: PropertySchemas): JsonObject {
  const normalised: JsonObject = {}
  for (const [key, value] of Object.entries(body)) {
    if (typeof value !== 'string') {
      normalised[key] = value
      continue
    }
    const trimmed = value.trim()
    const mayBeEmpty = (properties[key]?.minLength ?? 0) < 1
    if (trimmed !== '' || !mayBeEmpty) normalised[key] = trimmed
  }
  return normalised
}

function normaliseQuery(query: JsonObject): void {
  for (const [key, value] of Object.entries(query)) {
    if (typeof value === 'string') query[key] = value.trim()
  }
}

function bodyProperties(request: FastifyRequest): PropertySchemas {
  const schema = request.routeOptions.schema?.body as { properties?: PropertySchemas } | undefined
  return schema?.properties ?? {}
}

export default fp(
  async function inputNormalisationPlugin(app) {
    app.addHook('preValidation', async function normaliseInput(request) {
      if (isObject(request.body))
        request.body = normaliseBody(request.body, bodyProperties(request))
      if (isObject(request.query)) normaliseQuery(request.query)
    })
  },
  { name: 'input-normalisation' },
)
