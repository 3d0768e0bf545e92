import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import t from 'tap'
import { loadOpenApiDocument } from '../../lib/openapi-document.js'
import { convertSchema, type JsonSchema } from '../../scripts/json-schema-to-typebox.js'
import { operationsOf } from '../../scripts/openapi-operations.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const run = promisify(execFile)

/** The component names a schema refers to, found by walking it. */
function refsIn(value: unknown, found = new Set<string>()): Set<string> {
  if (Array.isArray(value)) value.forEach((item) => refsIn(item, found))
  else if (typeof value === 'object' && value !== null) {
    for (const [key, child] of Object.entries(value)) {
      if (key === '$ref' && typeof child === 'string') {
        found.add(child.replace('#/components/schemas/', ''))
      } else if (key !== 'examples' && key !== 'example' && key !== 'default') {
        refsIn(child, found)
      }
    }
  }
  return found
}

t.test('generate --check passes on the committed tree, and again (same output)', async (t) => {
  const document = loadOpenApiDocument()
  // One per component schema, one per operation, and the client's types.
  const expectedFiles =
    Object.keys(document.components.schemas).length + operationsOf(document).length + 1
  const outputs: string[] = []
  for (const attempt of ['first', 'second']) {
    const { stdout } = await run('npx', ['tsx', 'scripts/generate.ts', '--check'], {
      cwd: ROOT,
      env: { ...process.env, NODE_OPTIONS: '' },
    })
    t.match(
      stdout,
      `generated/ matches openapi/openapi.yaml (${expectedFiles} files)`,
      `${attempt} run: generated/ matches, one file per component and per operation`,
    )
    outputs.push(stdout)
  }
  t.equal(outputs[0], outputs[1], 'both runs report the same')
})

t.test('convertSchema maps each supported keyword', async (t) => {
  const cases: { name: string; schema: JsonSchema; code: string; refs?: string[] }[] = [
    { name: 'integer stays integer', schema: { type: 'integer' }, code: 'Type.Integer()' },
    {
      name: 'integer bounds',
      schema: { type: 'integer', minimum: 1, maximum: 9007199254740991 },
      code: 'Type.Integer({"minimum":1,"maximum":9007199254740991})',
    },
    { name: 'number', schema: { type: 'number' }, code: 'Type.Number()' },
    { name: 'boolean', schema: { type: 'boolean' }, code: 'Type.Boolean()' },
    { name: 'null', schema: { type: 'null' }, code: 'Type.Null()' },
    { name: 'no type: any value', schema: {}, code: 'Type.Unknown()' },
    {
      name: 'an additionalProperties schema is a record of it',
      schema: { type: 'object', description: 'd', additionalProperties: { type: 'integer' } },
      code: 'Type.Record(Type.String(), Type.Integer(), {"description":"d"})',
    },
    {
      name: 'string options passed through',
      schema: { type: 'string', minLength: 1, maxLength: 255, format: 'email', pattern: '^a' },
      code: 'Type.String({"minLength":1,"maxLength":255,"format":"email","pattern":"^a"})',
    },
    {
      name: 'description, examples and default passed through',
      schema: { type: 'string', description: 'd', examples: ['x'], default: 'x' },
      code: 'Type.String({"description":"d","examples":["x"],"default":"x"})',
    },
    {
      name: 'example and deprecated ignored',
      schema: { type: 'string', example: 'x', deprecated: true },
      code: 'Type.String()',
    },
    {
      name: "['string', 'null'] is a union with null",
      schema: { type: ['string', 'null'] },
      code: 'Type.Union([Type.String(), Type.Null()])',
    },
    {
      name: "['integer', 'null'] keeps integer",
      schema: { type: ['integer', 'null'] },
      code: 'Type.Union([Type.Integer(), Type.Null()])',
    },
    {
      name: 'nullable: constraints on the value, description on the union',
      schema: { type: ['string', 'null'], maxLength: 20, description: 'clears' },
      code: 'Type.Union([Type.String({"maxLength":20}), Type.Null()], {"description":"clears"})',
    },
    {
      name: 'enum is a union of literals',
      schema: { type: 'string', enum: ['cash', 'mpesa'] },
      code: 'Type.Union([Type.Literal("cash"), Type.Literal("mpesa")])',
    },
    {
      name: 'const is a literal',
      schema: { type: 'string', const: 'ok' },
      code: 'Type.Literal("ok")',
    },
    {
      name: '$ref is the component name',
      schema: { $ref: '#/components/schemas/Customer' },
      code: 'Customer',
      refs: ['Customer'],
    },
    {
      name: 'oneOf of a $ref and null',
      schema: { oneOf: [{ $ref: '#/components/schemas/PaymentMethod' }, { type: 'null' }] },
      code: 'Type.Union([PaymentMethod, Type.Null()])',
      refs: ['PaymentMethod'],
    },
    {
      name: 'anyOf',
      schema: { anyOf: [{ type: 'integer' }, { type: 'string' }] },
      code: 'Type.Union([Type.Integer(), Type.String()])',
    },
    {
      name: 'array of refs with maxItems',
      schema: { type: 'array', maxItems: 100, items: { $ref: '#/components/schemas/Id' } },
      code: 'Type.Array(Id, {"maxItems":100})',
      refs: ['Id'],
    },
    {
      name: 'object: required plain, others Type.Optional',
      schema: {
        type: 'object',
        additionalProperties: false,
        required: ['name'],
        properties: { name: { type: 'string' }, note: { $ref: '#/components/schemas/Note' } },
      },
      code: 'Type.Object({"name": Type.String(), "note": Type.Optional(Note)}, {"additionalProperties":false})',
      refs: ['Note'],
    },
    {
      name: 'minProperties on an object',
      schema: { type: 'object', minProperties: 1, properties: { a: { type: 'boolean' } } },
      code: 'Type.Object({"a": Type.Optional(Type.Boolean())}, {"minProperties":1})',
    },
  ]
  for (const { name, schema, code, refs = [] } of cases) {
    const conversion = convertSchema(schema)
    t.equal(conversion.code, code, `${name}: code`)
    t.strictSame([...conversion.refs].sort(), refs, `${name}: refs`)
  }
})

t.test('convertSchema refuses what it cannot convert faithfully', async (t) => {
  const cases: { name: string; schema: JsonSchema; message: RegExp }[] = [
    { name: 'not', schema: { not: { type: 'string' } }, message: /unsupported keyword "not"/ },
    {
      name: 'properties beside an additionalProperties schema',
      schema: {
        type: 'object',
        properties: { a: { type: 'string' } },
        additionalProperties: { type: 'string' },
      },
      message: /properties beside an additionalProperties schema/,
    },
    {
      name: 'allOf',
      schema: { allOf: [{ type: 'string' }] },
      message: /unsupported keyword "allOf"/,
    },
    {
      name: 'patternProperties',
      schema: { type: 'object', patternProperties: {} },
      message: /unsupported keyword "patternProperties"/,
    },
    {
      name: 'nested unsupported keyword',
      schema: { type: 'object', properties: { a: { type: 'string', if: {} } } },
      message: /unsupported keyword "if"/,
    },
    {
      name: 'a $ref outside the components',
      schema: { $ref: '#/definitions/Customer' },
      message: /unsupported \$ref/,
    },
    {
      name: 'a $ref to another file',
      schema: { $ref: 'other.yaml#/components/schemas/X' },
      message: /unsupported \$ref/,
    },
    {
      name: 'a type list of two non-null types',
      schema: { type: ['string', 'integer'] },
      message: /unsupported type list/,
    },
    { name: 'an unknown type', schema: { type: 'date' }, message: /unsupported type/ },
    { name: 'an array without items', schema: { type: 'array' }, message: /items/ },
    {
      name: 'a required property that is not defined',
      schema: { type: 'object', required: ['a'], properties: {} },
      message: /required property "a"/,
    },
  ]
  for (const { name, schema, message } of cases) {
    t.throws(() => convertSchema(schema), message, `${name}: throws`)
  }
})

t.test(
  'every schema of the document converts, listing exactly the components it uses',
  async (t) => {
    const document = loadOpenApiDocument()
    const schemas = Object.entries(document.components.schemas)
    t.ok(schemas.length > 0, 'the document has component schemas')
    for (const [name, schema] of schemas) {
      const conversion = convertSchema(schema)
      t.strictSame(
        [...conversion.refs].sort(),
        [...refsIn(schema)].sort(),
        `${name}: refs are the components it refers to`,
      )
      for (const ref of conversion.refs) {
        t.ok(ref in document.components.schemas, `${name}: ${ref} is a component`)
      }
    }
    for (const operation of operationsOf(document)) {
      for (const [part, schema] of Object.entries(operation.parts)) {
        if (!schema) continue
        t.doesNotThrow(() => convertSchema(schema), `${operation.operationId}: ${part} converts`)
      }
    }
  },
)
