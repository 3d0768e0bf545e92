import { Ajv, type AnySchema, type Options } from 'ajv'
import addFormats from 'ajv-formats'

const common: Options = {
  useDefaults: true,
  removeAdditional: false, // unknown fields are a 400, never silently dropped
  allErrors: true, // one detail per problem
  strict: true,
}

function createAjv(coerceTypes: boolean): Ajv {
  const ajv = new Ajv({ ...common, coerceTypes })
  addFormats.default(ajv)
  return ajv
}

/**
 * Bodies are validated as sent (no coercion: `"name": 5` is a 400), while path and query
 * parameters, which arrive as text, are coerced to the documented types.
 */
export function buildValidatorCompiler() {
  const strict = createAjv(false)
  const coercing = createAjv(true)
  return ({ schema, httpPart }: { schema: AnySchema; httpPart?: string }) =>
    (httpPart === 'body' ? strict : coercing).compile(schema)
}
