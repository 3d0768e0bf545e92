import type { FastifySchemaValidationError } from 'fastify'
import type { ErrorDetail } from './http-errors.js'
import { loadOpenApiDocument } from './openapi-document.js'

/**
 * A pattern of a titled component (`Email` is "email address") reads as "must be a valid email
 * address" rather than as the regular expression.
 */
const titledPatterns = new Map(
  Object.values(loadOpenApiDocument().components.schemas)
    .filter((schema) => typeof schema.pattern === 'string' && typeof schema.title === 'string')
    .map((schema) => [schema.pattern as string, schema.title as string]),
)

function pathOf(error: FastifySchemaValidationError, context: string): string {
  const params = error.params as Record<string, unknown>
  const base = error.instancePath.replace(/^\//, '').replace(/\//g, '.')
  const child =
    error.keyword === 'required'
      ? params.missingProperty
      : error.keyword === 'additionalProperties'
        ? params.additionalProperty
        : undefined
  const path = [base, child].filter((part) => typeof part === 'string' && part !== '').join('.')
  return path || context
}

function messageOf(error: FastifySchemaValidationError): string {
  const params = error.params as Record<string, unknown>
  switch (error.keyword) {
    case 'required':
      return 'is required'
    case 'additionalProperties':
      return 'is not a known field'
    case 'minProperties':
      return 'must contain at least one field'
    case 'minLength':
      return params.limit === 1
        ? 'must not be empty'
        : `must be at least ${String(params.limit)} characters`
    case 'maxLength':
      return `must be at most ${String(params.limit)} characters`
    case 'pattern': {
      const title = titledPatterns.get(String(params.pattern))
      return title ? `must be a valid ${title}` : (error.message ?? 'is invalid')
    }
    case 'format':
      return params.format === 'email'
        ? 'must be a valid email address'
        : `must be a valid ${String(params.format).replace('-', ' ')}`
    default:
      return error.message ?? 'is invalid'
  }
}

/**
 * One detail per field. Alternatives (a type or null, an enum) make Ajv report each branch;
 * they are folded into one message such as "must be one of: cash, mpesa, credit".
 */
export function validationDetails(
  errors: FastifySchemaValidationError[],
  context: string,
): ErrorDetail[] {
  const byPath = new Map<string, FastifySchemaValidationError[]>()
  for (const error of errors) {
    const path = pathOf(error, context)
    byPath.set(path, [...(byPath.get(path) ?? []), error])
  }
  return [...byPath].map(([path, group]) => {
    const allowed = group
      .filter((error) => error.keyword === 'const')
      .map((error) => String((error.params as { allowedValue?: unknown }).allowedValue))
    const nonUnion = group.filter((error) => error.keyword !== 'anyOf' && error.keyword !== 'const')
    const types = nonUnion
      .filter((error) => error.keyword === 'type')
      .map((error) => String((error.params as { type?: unknown }).type))
    if (allowed.length > 0) {
      const withNull = types.includes('null') ? [...allowed, 'null'] : allowed
      return { path, message: `must be one of: ${withNull.join(', ')}` }
    }
    if (types.length > 1) return { path, message: `must be ${types.join(' or ')}` }
    const first = nonUnion.find((error) => error.keyword !== 'type') ?? nonUnion[0] ?? group[0]
    return { path, message: first ? messageOf(first) : 'is invalid' }
  })
}
