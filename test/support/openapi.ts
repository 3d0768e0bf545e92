import type { OpenApiDocument } from '../../lib/openapi-document.js'

/** The methods an OpenAPI path item may hold that the service serves. */
export const HTTP_METHODS = ['get', 'put', 'post', 'patch', 'delete'] as const
export type HttpMethod = (typeof HTTP_METHODS)[number]

export interface DocumentOperation<Operation> {
  /** The document's path template, e.g. `/api/customers/{businessId}`. */
  path: string
  method: HttpMethod
  /** `GET`, `POST`, … for app.inject and fetch. */
  upperMethod: Uppercase<HttpMethod>
  operation: Operation
  /** Path-level then operation-level parameters, unresolved (`$ref`s as written). */
  parameters: unknown[]
  /** The operation's security, else the document's: empty when the operation is public. */
  security: unknown[]
}

/**
 * Every operation under the document's `paths`, path by path in document order: the one
 * walker the tests share (contract checks, fuzzing, the security battery, auth, tenancy).
 */
export function documentOperations<Operation extends object = Record<string, unknown>>(
  document: OpenApiDocument,
): DocumentOperation<Operation>[] {
  const globalSecurity = (document.security as unknown[] | undefined) ?? []
  return Object.entries(document.paths).flatMap(([path, item]) =>
    HTTP_METHODS.filter((method) => item[method] !== undefined).map((method) => {
      const operation = item[method] as Operation & { parameters?: unknown[]; security?: unknown[] }
      return {
        path,
        method,
        upperMethod: method.toUpperCase() as Uppercase<HttpMethod>,
        operation,
        parameters: [
          ...((item.parameters as unknown[] | undefined) ?? []),
          ...(operation.parameters ?? []),
        ],
        security: operation.security ?? globalSecurity,
      }
    }),
  )
}
