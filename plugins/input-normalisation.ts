import type { FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { validationFailed, type ErrorDetail } from '../lib/http-errors.js'
import { cleanText, QUERY_TEXT_RULES } from '../lib/text.js'
import {
  isObject,
  normaliseBody,
  unstorableCharacters,
  type JsonObject,
  type PropertySchemas,
} from '../lib/body-normalisation.js'

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

function normaliseQuery(query: JsonObject): void {
  for (const [key, value] of Object.entries(query)) {
    const rule = QUERY_TEXT_RULES[key] ?? 'plain'
    if (typeof value === 'string') query[key] = cleanText(value, rule)
    if (Array.isArray(value)) {
      query[key] = value.map((item) => (typeof item === 'string' ? cleanText(item, rule) : item))
    }
  }
}

type Part = 'body' | 'querystring' | 'params'

function propertiesOf(request: FastifyRequest, part: Part): PropertySchemas {
  const schema = request.routeOptions.schema?.[part] as { properties?: PropertySchemas } | undefined
  return schema?.properties ?? {}
}

export default fp(
  async function inputNormalisationPlugin(app) {
    app.addHook('preValidation', async function normaliseInput(request) {
      // A parsed JSON body; not an upload (an object of its own class, lib/spooled-upload.ts).
      if (isObject(request.body) && Object.getPrototypeOf(request.body) === Object.prototype) {
        request.body = normaliseBody(request.body, propertiesOf(request, 'body'))
      }
      if (isObject(request.query)) normaliseQuery(request.query)
      const details = [
        ...unstorableCharacters(request.body),
        ...unstorableCharacters(request.query),
        ...nonDecimalIntegers(request.params, propertiesOf(request, 'params')),
        ...nonDecimalIntegers(request.query, propertiesOf(request, 'querystring')),
      ]
      if (details.length > 0) throw validationFailed(details)
    })
  },
  { name: 'input-normalisation' },
)
