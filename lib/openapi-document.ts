import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'

export const OPENAPI_PATH = fileURLToPath(new URL('../openapi/openapi.yaml', import.meta.url))

export interface OpenApiDocument {
  openapi: string
  paths: Record<string, Record<string, unknown>>
  webhooks?: Record<string, Record<string, unknown>>
  components: {
    schemas: Record<string, Record<string, unknown>>
    responses?: Record<string, Record<string, unknown>>
    parameters?: Record<string, Record<string, unknown>>
  }
  [key: string]: unknown
}

const loaded = new Map<string, OpenApiDocument>()

/**
 * The hand-written contract, parsed once per process (every app build shares it; nobody
 * mutates it). YAML merge keys (`<<`) are used to share property lists.
 */
export function loadOpenApiDocument(path = OPENAPI_PATH): OpenApiDocument {
  let document = loaded.get(path)
  if (!document) {
    document = parse(readFileSync(path, 'utf8'), { merge: true }) as OpenApiDocument
    loaded.set(path, document)
  }
  return document
}
