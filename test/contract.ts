import { Ajv2020 } from 'ajv/dist/2020.js'
import addFormats from 'ajv-formats'
import type { ValidateFunction } from 'ajv'
import { loadOpenApiDocument, type OpenApiDocument } from '../lib/openapi-document.js'

const DOCUMENT_ID = 'https://payme.local/openapi.json'

/** `/api/customers/:businessId/:customerId/` → `/api/customers/{businessId}/{customerId}` */
export function toOpenApiPath(routeUrl: string): string {
  const path = routeUrl.replace(/:([A-Za-z0-9_]+)/g, '{$1}')
  return path.length > 1 ? path.replace(/\/+$/, '') : path
}

const escapePointer = (segment: string): string => segment.replace(/~/g, '~0').replace(/\//g, '~1')

/** Validates response bodies against the schema the document gives for that operation and status. */
export class ContractValidator {
  readonly document: OpenApiDocument
  private readonly ajv: Ajv2020
  private readonly cache = new Map<string, ValidateFunction | null>()

  constructor(document = loadOpenApiDocument()) {
    this.document = document
    this.ajv = new Ajv2020({ strict: false, allErrors: true })
    addFormats.default(this.ajv)
    this.ajv.addSchema({ ...document, $id: DOCUMENT_ID })
  }

  /** The pointer to the response schema, or undefined when the status is not documented. */
  private responsePointer(path: string, method: string, status: number): string | undefined {
    const operation = this.document.paths[path]?.[method.toLowerCase()] as
      { responses?: Record<string, { $ref?: string }> } | undefined
    const response = operation?.responses?.[String(status)]
    if (!response) return undefined
    if (response.$ref) return `${response.$ref.slice(1)}/content/application~1json/schema`
    return `/paths/${escapePointer(path)}/${method.toLowerCase()}/responses/${status}/content/application~1json/schema`
  }

  /** The response headers the document marks required for this operation and status. */
  requiredHeaders(method: string, routeUrl: string, status: number): string[] {
    const path = toOpenApiPath(routeUrl)
    const operation = this.document.paths[path]?.[method.toLowerCase()] as
      { responses?: Record<string, unknown> } | undefined
    const response = this.resolve(operation?.responses?.[String(status)]) as
      { headers?: Record<string, unknown> } | undefined
    return Object.entries(response?.headers ?? {})
      .filter(([, header]) => (this.resolve(header) as { required?: unknown }).required === true)
      .map(([name]) => name.toLowerCase())
  }

  /** Follows a local `$ref` (`#/components/...`) to what it names. */
  private resolve(node: unknown): unknown {
    const ref = (node as { $ref?: unknown } | undefined)?.$ref
    if (typeof ref !== 'string') return node
    let target: unknown = this.document
    for (const key of ref.slice(2).split('/')) target = (target as Record<string, unknown>)[key]
    return this.resolve(target)
  }

  /** A list of problems; empty when the response is as documented. */
  check(method: string, routeUrl: string, status: number, body: unknown): string[] {
    const path = toOpenApiPath(routeUrl)
    if (!this.document.paths[path]?.[method.toLowerCase()]) {
      return [`${method} ${path} is not in the document`]
    }
    const key = `${method} ${path} ${status}`
    if (!this.cache.has(key)) {
      const pointer = this.responsePointer(path, method, status)
      this.cache.set(key, pointer ? this.ajv.compile({ $ref: `${DOCUMENT_ID}#${pointer}` }) : null)
    }
    const validate = this.cache.get(key)
    if (!validate) return [`${key} is not a documented response`]
    if (validate(body)) return []
    return (validate.errors ?? []).map((error) => `${key}: ${error.instancePath} ${error.message}`)
  }
}
