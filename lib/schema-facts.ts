/** The parts of a JSON Schema (as TypeBox emits them) that input normalisation asks about. */
export interface FieldSchema {
  type?: unknown
  const?: unknown
  enum?: unknown[]
  anyOf?: FieldSchema[]
  oneOf?: FieldSchema[]
  minLength?: number
  pattern?: string
  format?: string
}

const typesOf = (schema: FieldSchema): unknown[] =>
  Array.isArray(schema.type) ? schema.type : [schema.type]

const branchesOf = (schema: FieldSchema): FieldSchema[] => schema.anyOf ?? schema.oneOf ?? []

/** Whether the schema accepts `""`: a plain string without a lower bound, a pattern or a format. */
export function acceptsEmptyString(schema: FieldSchema): boolean {
  if (branchesOf(schema).some(acceptsEmptyString)) return true
  if ('const' in schema) return schema.const === ''
  if (schema.enum) return schema.enum.includes('')
  if (!typesOf(schema).includes('string')) return false
  const pattern = schema.pattern === undefined || new RegExp(schema.pattern, 'u').test('')
  return (schema.minLength ?? 0) === 0 && pattern && schema.format === undefined
}

/** Whether the schema accepts `null`. */
export function acceptsNull(schema: FieldSchema): boolean {
  return typesOf(schema).includes('null') || branchesOf(schema).some(acceptsNull)
}
