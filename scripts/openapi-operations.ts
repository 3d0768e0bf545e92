import type { OpenApiDocument } from '../lib/openapi-document.js'
import type { JsonSchema } from './json-schema-to-typebox.js'

const METHODS = ['get', 'put', 'post', 'patch', 'delete'] as const

interface Parameter {
  name: string
  in: 'path' | 'query' | 'header' | 'cookie'
  required?: boolean
  description?: string
  schema: JsonSchema
}

export interface Operation {
  operationId: string
  method: string
  path: string
  tags: string[]
  parts: { params?: JsonSchema; querystring?: JsonSchema; headers?: JsonSchema; body?: JsonSchema }
  /** JSON response schemas by status; free-form bodies (no properties) are left out. */
  responses: Record<string, JsonSchema>
}

type Json = Record<string, unknown>

function resolve<T>(document: OpenApiDocument, value: unknown): T {
  const ref = (value as Json | undefined)?.$ref
  if (typeof ref !== 'string') return value as T
  if (!ref.startsWith('#/')) throw new Error(`unsupported $ref ${ref}`)
  let target: unknown = document
  for (const key of ref.slice(2).split('/')) target = (target as Json)[key]
  if (target === undefined) throw new Error(`unresolved $ref ${ref}`)
  return resolve<T>(document, target)
}

/** Node hands headers over in lower case, whatever case the document names them in. */
const nameOf = (parameter: Parameter): string =>
  parameter.in === 'header' ? parameter.name.toLowerCase() : parameter.name

function objectOf(parameters: Parameter[], closed: boolean): JsonSchema | undefined {
  if (parameters.length === 0) return undefined
  const properties: Record<string, JsonSchema> = {}
  for (const parameter of parameters) {
    properties[nameOf(parameter)] = parameter.description
      ? { ...parameter.schema, description: parameter.description }
      : parameter.schema
  }
  const required = parameters.filter((parameter) => parameter.required).map(nameOf)
  return {
    type: 'object',
    ...(closed ? { additionalProperties: false } : {}),
    properties,
    ...(required.length > 0 ? { required } : {}),
  }
}

function jsonSchemaOf(document: OpenApiDocument, holder: unknown): JsonSchema | undefined {
  const content = resolve<Json | undefined>(document, holder)?.content as Json | undefined
  const media = content?.['application/json'] as Json | undefined
  return media?.schema as JsonSchema | undefined
}

function isFreeForm(schema: JsonSchema): boolean {
  return schema.type === 'object' && !schema.properties && !schema.$ref
}

/** Every operation of the document's paths, with its parameters resolved into schemas. */
export function operationsOf(document: OpenApiDocument): Operation[] {
  const operations: Operation[] = []
  for (const [path, item] of Object.entries(document.paths)) {
    for (const method of METHODS) {
      const operation = item[method] as Json | undefined
      if (!operation) continue
      const parameters = [
        ...((item.parameters ?? []) as unknown[]),
        ...((operation.parameters ?? []) as unknown[]),
      ].map((parameter) => resolve<Parameter>(document, parameter))
      const byPlace = (place: Parameter['in']) => parameters.filter((p) => p.in === place)
      const responses: Record<string, JsonSchema> = {}
      for (const [status, response] of Object.entries((operation.responses ?? {}) as Json)) {
        const schema = jsonSchemaOf(document, response)
        if (schema && !isFreeForm(schema)) responses[status] = schema
      }
      operations.push({
        operationId: String(operation.operationId),
        method,
        path,
        tags: (operation.tags ?? []) as string[],
        parts: {
          params: objectOf(byPlace('path'), false),
          querystring: objectOf(byPlace('query'), true),
          headers: objectOf(byPlace('header'), false),
          body: jsonSchemaOf(document, operation.requestBody),
        },
        responses,
      })
    }
  }
  return operations
}
