import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import {
  isDatabaseUnavailable,
  isErasedCustomerWrite,
  isPoolSaturated,
} from '../lib/database-errors.js'
import { createEpisodeLog } from '../lib/episode-log.js'
import {
  Conflict,
  DomainError,
  Invalid,
  NotFound,
  PreconditionFailed,
  TooLarge,
  Unprocessable,
} from '../lib/domain-errors.js'
import {
  customerNotFound,
  databaseUnavailable,
  errorBody,
  HttpError,
  methodNotAllowed,
  preconditionFailed,
  serviceOverloaded,
  validationFailed,
  type ErrorDetail,
} from '../lib/http-errors.js'
import { createRouteMethods } from '../lib/route-methods.js'
import { validationDetails } from '../lib/validation-details.js'
import { BODY_LIMIT_BYTES } from '../server-options.js'

/** Fastify's own request errors, as the contract names them. */
function fromFastifyError(error: FastifyError): HttpError | undefined {
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new HttpError(415, 'Unsupported media type', 'Send the body as application/json')
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new HttpError(
        413,
        'Payload too large',
        `The request body is larger than ${BODY_LIMIT_BYTES} bytes`,
      )
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return validationFailed([{ path: 'body', message: 'must not be empty' }])
    case 'FST_ERR_CTP_INVALID_JSON':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return validationFailed([{ path: 'body', message: 'is not valid JSON' }])
  }
  if (error instanceof SyntaxError && error.statusCode === 400) {
    // JSON.parse failures and prototype-poisoning refusals from the body parser.
    return validationFailed([{ path: 'body', message: 'is not valid JSON' }])
  }
  if (error.validation) {
    const details: ErrorDetail[] = validationDetails(
      error.validation,
      error.validationContext ?? 'body',
    )
    return validationFailed(details)
  }
  if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) {
    return new HttpError(error.statusCode, error.statusCode === 404 ? 'Not found' : 'Bad request')
  }
  return undefined
}

const customerErased = () =>
  new HttpError(
    409,
    'Customer erased',
    "The customer's personal data was erased: the customer cannot be changed any more",
  )

/** The one mapping of the services' domain errors to the contract's statuses and titles. */
function fromDomainError(error: DomainError): HttpError {
  if (error instanceof Invalid) return validationFailed(error.details)
  if (error instanceof NotFound) {
    if (error.resource === 'customer') return customerNotFound()
    if (error.resource === 'import') return new HttpError(404, 'Import not found')
    if (error.resource === 'webhook endpoint')
      return new HttpError(404, 'Webhook endpoint not found')
    return new HttpError(404, 'Not found')
  }
  if (error instanceof TooLarge) return new HttpError(413, 'Payload too large', error.message)
  if (error instanceof Conflict) return new HttpError(409, error.title, error.message)
  if (error instanceof Unprocessable) {
    return new HttpError(422, error.title, error.message, error.details)
  }
  if (error instanceof PreconditionFailed) return preconditionFailed(error.currentVersion)
  throw new Error(`no HTTP mapping for ${error.name}`)
}

function send(reply: FastifyReply, request: FastifyRequest, problem: HttpError): FastifyReply {
  return reply
    .code(problem.statusCode)
    .headers(problem.headers)
    .send(errorBody(problem, request.id))
}

/** Every error leaves in the contract's shape; 5xx bodies never carry internal text. */
export default fp(
  async function errorsPlugin(app) {
    // An outage fails every request alike: one warning per episode, not per request.
    const outage = createEpisodeLog(app.log, 'The database is unreachable')

    app.setErrorHandler(function handleError(error: FastifyError, request, reply) {
      // Counted and logged with the rest of the overload by plugins/load-shedding.ts.
      if (isPoolSaturated(error)) return send(reply, request, serviceOverloaded())
      if (isDatabaseUnavailable(error)) {
        outage({ request_id: request.id, err: error })
        return send(reply, request, databaseUnavailable())
      }
      // Whichever write path reached the row, the database refused it the same way.
      if (isErasedCustomerWrite(error)) return send(reply, request, customerErased())
      const known =
        error instanceof HttpError
          ? error
          : error instanceof DomainError
            ? fromDomainError(error)
            : fromFastifyError(error)
      if (known) {
        if (known.statusCode >= 500) request.log.warn({ err: error }, known.title)
        return send(reply, request, known)
      }
      request.log.error({ err: error }, 'unhandled error')
      return send(reply, request, new HttpError(500, 'Internal server error'))
    })

    const routeMethods = createRouteMethods()
    app.addHook('onRoute', function rememberRouteMethods(route) {
      routeMethods.add(route.method, route.url)
    })
    // `DELETE /api/customers/5/analytics` is routed to `…/:customerId` (the only DELETE), but the
    // URL belongs to `…/analytics`, which has no DELETE: a 405, as for any other missing method.
    app.addHook('onRequest', function refuseShadowedMethod(request, _reply, done) {
      const routed = request.routeOptions.url
      const allowed =
        routed === undefined ? undefined : routeMethods.shadowedBy(routed, request.params)
      done(allowed === undefined ? undefined : methodNotAllowed(allowed))
    })

    app.setNotFoundHandler(function handleNotFound(request, reply) {
      const allowed = routeMethods.allowedFor(request.url)
      if (allowed.length > 0) return send(reply, request, methodNotAllowed(allowed))
      return send(reply, request, new HttpError(404, 'Not found'))
    })
  },
  { name: 'errors' },
)
