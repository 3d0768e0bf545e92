import { acceptsEmptyString, acceptsNull, type FieldSchema } from './schema-facts.js'
import type { ErrorDetail } from './domain-errors.js'
import { BODY_TEXT_RULES, cleanText, hasLoneSurrogate, toNfc } from './text.js'

/**
 * What every write's fields go through before validation, wherever they come from: a JSON body
 * (plugins/input-normalisation.ts) or a row of an imported CSV file (services/import-rows.ts).
 */

export type JsonObject = Record<string, unknown>
export type PropertySchemas = Record<string, FieldSchema | undefined>

export const isObject = (value: unknown): value is JsonObject =>
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
export function normaliseBody(body: JsonObject, properties: PropertySchemas): JsonObject {
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

/**
 * Characters PostgreSQL text cannot hold, refused by name rather than failing in the database
 * (U+0000) or being stored as U+FFFD by the driver (a lone surrogate, which JSON can escape).
 */
export function unstorableCharacters(value: unknown, path: string[] = []): ErrorDetail[] {
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
