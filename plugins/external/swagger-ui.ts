import type { FastifySwaggerUiOptions } from '@fastify/swagger-ui'

/** Swagger UI at /docs, with "Authorize" for the bearer token. https://github.com/fastify/fastify-swagger-ui */
export { default } from '@fastify/swagger-ui'

export const swaggerUiOptions: FastifySwaggerUiOptions = {
  routePrefix: '/docs',
  uiConfig: {
    persistAuthorization: true,
    displayRequestDuration: true,
    tryItOutEnabled: true,
    // No badge from validator.swagger.io: the page loads nothing from other origins (CSP).
    validatorUrl: null,
  },
}
