import type { FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { validationFailed, type ErrorDetail } from '../lib/http-errors.js'
import {
  BODY_TEXT_RULES,
  cleanText,
  hasLoneSurrogate,
  QUERY_TEXT_RULES,
  toNfc,
} from '../lib/text.js'
import { acceptsEmptyString, acceptsNull, type FieldSchema } from '../lib/schema-facts.js'

type JsonObject = Record<string, unknown>
type PropertySchemas = Record<string, FieldSchema | undefined>

const isObject = (value: unknown): value is JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/** Deeper than any body the document allows: past it, schema validation refuses the shape. */
const SCAN_DEPTH = 8

/** NFC for every string in a nested value (webhook `data`, arrays); object keys are left as sent. */
function nfcDeep(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return toNfc(value)
  if (depth >= SCAN_DEPTH || typeof value !== 'object' || value === null) return value
  if (Array.isArray(value)) return value.map((item) => nfcDeep(item, depth + 1))
  return Object.fromEntries(
    Object.entries(value).map(([key, item]) => [key, nfcDeep(item, depth + 1)]),
  )
}

/**
 * Cleans strings before validation (lib/text.ts: NFC, invisible characters by field, trimmed).
 * A top-level string left empty means what its schema documents (the `Blank` schema): where the
 * schema accepts an empty string, the field is cleared (`null`) if it can be, else left out;
 * elsewhere the empty string stays and fails validation by name (a name of only U+200B, an enum).
 * Nested strings are put in NFC and otherwise taken as sent.
 */
function normaliseBody(body: JsonObject, properties: PropertySchemas): JsonObject {
  const normalised: JsonObject = {}
  for (const [key, value] of Object.entries(body)) {
    if (typeof value !== 'string') {
      normalised[key] = nfcDeep(value, 1)
      continue
    }
    const cleaned = cleanText(value, BODY_TEXT_RULES[key] ?? 'plain')
    const schema = properties[key]
    if (cleaned !== '' || schema === undefined || !acceptsEmptyString(schema)) {
      normalised[key] = cleaned
    } else if (acceptsNull(schema)) {
      normalised[key] = null
    }
  }
  return normalised
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

/**
 * Characters PostgreSQL text cannot hold, refused by name rather than failing in the database
 * (U+0000) or being stored as U+FFFD by the driver (a lone surrogate, which JSON can escape).
 */
function unstorableCharacters(value: unknown, path: string[] = []): ErrorDetail[] {
  if (typeof value === 'string') {
    const at = path.join('.') || 'body'
    if (value.includes('\u0000')) return [{ path: at, message: 'must not contain a NUL character' }]
    if (hasLoneSurrogate(value)) {
      return [{ path: at, message: 'must be valid Unicode text (no lone surrogate)' }]
    }
    return []
  }
  if (path.length >= SCAN_DEPTH || typeof value !== 'object' || value === null) return []
  return Object.entries(value).flatMap(([key, item]) => unstorableCharacters(item, [...path, key]))
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
