/**
 * Turns one JSON Schema (the OpenAPI 3.1 dialect, as written in openapi/) into TypeBox source.
 * We write our own because the maintained converters we tried either widen `integer` to
 * `number` (schema2typebox) or start from TypeScript rather than JSON Schema (typebox-codegen).
 * It handles exactly the keywords our document uses and throws on anything else, so a new
 * keyword fails `npm run generate` loudly instead of being dropped.
 */

export type JsonSchema = { [keyword: string]: unknown }

const COMPONENT_REF = '#/components/schemas/'

/** Keywords copied verbatim into the TypeBox options argument. */
const PASS_THROUGH = new Set([
  'title',
  'description',
  'examples',
  'default',
  'format',
  'pattern',
  'minLength',
  'maxLength',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'minItems',
  'maxItems',
  'uniqueItems',
  'minProperties',
  'maxProperties',
  'additionalProperties',
])

/** Keywords consumed by the structure of the generated code. */
const STRUCTURAL = new Set([
  'type',
  'properties',
  'required',
  'items',
  'enum',
  'const',
  'oneOf',
  'anyOf',
  '$ref',
])

/**
 * Keywords that document the schema but have no TypeBox counterpart we want to emit. The content
 * of a string (`contentMediaType`/`contentSchema`, e.g. favorite_products as JSON text) is checked
 * by the service, which parses it; JSON Schema makes them annotations only.
 */
const IGNORED = new Set(['example', 'deprecated', 'contentMediaType', 'contentSchema'])

export interface Conversion {
  code: string
  /** Component schema names the code refers to. */
  refs: Set<string>
}

export function convertSchema(schema: JsonSchema): Conversion {
  const refs = new Set<string>()
  return { code: convert(schema, refs), refs }
}

function convert(schema: JsonSchema, refs: Set<string>): string {
  for (const keyword of Object.keys(schema)) {
    if (!PASS_THROUGH.has(keyword) && !STRUCTURAL.has(keyword) && !IGNORED.has(keyword)) {
      throw new Error(`json-schema-to-typebox: unsupported keyword "${keyword}"`)
    }
  }
  const options = optionsOf(schema)

  if (typeof schema.$ref === 'string') {
    if (!schema.$ref.startsWith(COMPONENT_REF)) {
      throw new Error(`json-schema-to-typebox: unsupported $ref "${schema.$ref}"`)
    }
    const name = schema.$ref.slice(COMPONENT_REF.length)
    refs.add(name)
    return name
  }
  if ('const' in schema) return call('Type.Literal', [JSON.stringify(schema.const)], options)
  if (Array.isArray(schema.enum)) {
    const literals = schema.enum.map((value) => `Type.Literal(${JSON.stringify(value)})`)
    return call('Type.Union', [`[${literals.join(', ')}]`], options)
  }
  const alternatives = schema.oneOf ?? schema.anyOf
  if (Array.isArray(alternatives)) {
    const members = alternatives.map((member: JsonSchema) => convert(member, refs))
    return call('Type.Union', [`[${members.join(', ')}]`], options)
  }
  if (Array.isArray(schema.type)) {
    const types = schema.type as string[]
    const nonNull = types.filter((type) => type !== 'null')
    if (types.length !== 2 || nonNull.length !== 1) {
      throw new Error(`json-schema-to-typebox: unsupported type list ${JSON.stringify(types)}`)
    }
    const { description, examples, default: defaultValue, ...rest } = schema
    const inner = convert({ ...rest, type: nonNull[0] }, refs)
    const unionOptions = optionsOf({ description, examples, default: defaultValue })
    return call('Type.Union', [`[${inner}, Type.Null()]`], unionOptions)
  }
  // No type and nothing else that constrains it (a field change's old or new value): any JSON.
  if (schema.type === undefined) return call('Type.Unknown', [], options)
  switch (schema.type) {
    case 'object':
      return convertObject(schema, options, refs)
    case 'array': {
      if (typeof schema.items !== 'object' || schema.items === null) {
        throw new Error('json-schema-to-typebox: arrays need an items schema')
      }
      return call('Type.Array', [convert(schema.items as JsonSchema, refs)], options)
    }
    case 'string':
      return call('Type.String', [], options)
    case 'integer':
      return call('Type.Integer', [], options)
    case 'number':
      return call('Type.Number', [], options)
    case 'boolean':
      return call('Type.Boolean', [], options)
    case 'null':
      return call('Type.Null', [], options)
    default:
      throw new Error(`json-schema-to-typebox: unsupported type ${JSON.stringify(schema.type)}`)
  }
}

function convertObject(
  schema: JsonSchema,
  options: Record<string, unknown>,
  refs: Set<string>,
): string {
  const properties = (schema.properties ?? {}) as Record<string, JsonSchema>
  const values = schema.additionalProperties
  // A map from any name to one kind of value (a change's fields): a record of that value.
  if (typeof values === 'object' && values !== null) {
    if (Object.keys(properties).length > 0) {
      throw new Error('json-schema-to-typebox: properties beside an additionalProperties schema')
    }
    const recordOptions = { ...options }
    delete recordOptions.additionalProperties
    return call(
      'Type.Record',
      ['Type.String()', convert(values as JsonSchema, refs)],
      recordOptions,
    )
  }
  const required = new Set((schema.required ?? []) as string[])
  for (const name of required) {
    if (!(name in properties)) {
      throw new Error(`json-schema-to-typebox: required property "${name}" is not defined`)
    }
  }
  const members = Object.entries(properties).map(([name, property]) => {
    const code = convert(property, refs)
    return `${JSON.stringify(name)}: ${required.has(name) ? code : `Type.Optional(${code})`}`
  })
  return call('Type.Object', [`{${members.join(', ')}}`], options)
}

function optionsOf(schema: JsonSchema): Record<string, unknown> {
  const options: Record<string, unknown> = {}
  for (const [keyword, value] of Object.entries(schema)) {
    if (PASS_THROUGH.has(keyword) && value !== undefined) options[keyword] = value
  }
  return options
}

function call(fn: string, args: string[], options: Record<string, unknown>): string {
  const all = Object.keys(options).length > 0 ? [...args, JSON.stringify(options)] : args
  return `${fn}(${all.join(', ')})`
}
