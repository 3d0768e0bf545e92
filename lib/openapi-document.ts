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

/** Reads the hand-written contract; YAML merge keys (`<<`) are used to share property lists. */
export function loadOpenApiDocument(path = OPENAPI_PATH): OpenApiDocument {
  return parse(readFileSync(path, 'utf8'), { merge: true }) as OpenApiDocument
}
