import type { FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { validationFailed, type ErrorDetail } from '../lib/http-errors.js'

type JsonObject = Record<string, unknown>
type PropertySchemas = Record<string, { minLength?: number; type?: unknown } | undefined>

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

/** Plain decimal, and short enough to stay an exact integer (309 digits would read as Infinity). */
const DECIMAL_INTEGER = /^-?\d{1,16}$/

/**
 * Path and query integers must be written in plain decimal: Ajv's coercion would otherwise
 * read `0x5`, `+5`, `5.0` or `5e0` as 5.
 */
function nonDecimalIntegers(values: unknown, properties: PropertySchemas): ErrorDetail[] {
  if (!isObject(values)) return []
  return Object.entries(values)
    .filter(([key, value]) => properties[key]?.type === 'integer' && typeof value === 'string')
    .filter(([, value]) => !DECIMAL_INTEGER.test(value as string))
    .map(([key]) => ({ path: key, message: 'must be an integer written in decimal digits' }))
}

/** Deeper than any body the document allows: past it, schema validation refuses the shape. */
const SCAN_DEPTH = 8

/** PostgreSQL text cannot hold U+0000: refuse it by name rather than fail in the database. */
function nulCharacters(value: unknown, path: string[] = []): ErrorDetail[] {
  if (typeof value === 'string') {
    return value.includes('\u0000')
      ? [{ path: path.join('.') || 'body', message: 'must not contain a NUL character' }]
      : []
  }
  if (path.length >= SCAN_DEPTH || typeof value !== 'object' || value === null) return []
  return Object.entries(value).flatMap(([key, item]) => nulCharacters(item, [...path, key]))
}

type Part = 'body' | 'querystring' | 'params'

function propertiesOf(request: FastifyRequest, part: Part): PropertySchemas {
  const schema = request.routeOptions.schema?.[part] as { properties?: PropertySchemas } | undefined
  return schema?.properties ?? {}
}

export default fp(
  async function inputNormalisationPlugin(app) {
    app.addHook('preValidation', async function normaliseInput(request) {
      if (isObject(request.body)) {
        request.body = normaliseBody(request.body, propertiesOf(request, 'body'))
      }
      if (isObject(request.query)) normaliseQuery(request.query)
      const details = [
        ...nulCharacters(request.body),
        ...nulCharacters(request.query),
        ...nonDecimalIntegers(request.params, propertiesOf(request, 'params')),
        ...nonDecimalIntegers(request.query, propertiesOf(request, 'querystring')),
      ]
      if (details.length > 0) throw validationFailed(details)
    })
  },
  { name: 'input-normalisation' },
)
