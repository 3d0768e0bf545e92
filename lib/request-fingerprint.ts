import { createHash } from 'node:crypto'

type WithJson = { toJSON(): unknown }
const hasToJson = (value: object): value is WithJson =>
  typeof (value as Partial<WithJson>).toJSON === 'function'

/**
 * JSON with object keys sorted at every depth: equal for bodies that parse to equal values. A
 * body that says how it is JSON (`toJSON`, an uploaded file's digest) is compared by that.
 */
export function canonicalJson(value: unknown): string {
  if (typeof value === 'object' && value !== null && hasToJson(value)) {
    return canonicalJson(value.toJSON())
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, item]) => item !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`)
    return `{${entries.join(',')}}`
  }
  return JSON.stringify(value ?? null)
}

/** `/api/customers/5/?a=1` → `/api/customers/5?a=1`: the trailing slash is optional. */
export function fingerprintPath(url: string): string {
  const queryAt = url.indexOf('?')
  const path = queryAt === -1 ? url : url.slice(0, queryAt)
  const query = queryAt === -1 ? '' : url.slice(queryAt)
  const trimmed = path.length > 1 ? path.replace(/\/+$/, '') : path
  return `${trimmed || '/'}${query}`
}

/**
 * What makes two requests with one Idempotency-Key the same request: the method, the path
 * with its query string, and the parsed body (headers are not part of it).
 */
export function requestFingerprint(method: string, url: string, body: unknown) {
  return {
    method: method.toUpperCase(),
    path: fingerprintPath(url),
    bodySha256: createHash('sha256').update(canonicalJson(body)).digest('hex'),
  }
}
