import type { FastifyStaticSwaggerOptions, StaticDocumentSpec } from '@fastify/swagger'
import type { OpenApiDocument } from '../../lib/openapi-document.js'

/**
 * Serves the hand-written document as it is (static mode): the contract is openapi/, never
 * derived from the routes. https://github.com/fastify/fastify-swagger
 */
export { default } from '@fastify/swagger'

export function swaggerOptions(document: OpenApiDocument): FastifyStaticSwaggerOptions {
  return {
    mode: 'static',
    specification: { document: document as unknown as StaticDocumentSpec['document'] },
  }
}
