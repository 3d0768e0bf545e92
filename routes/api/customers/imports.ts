import { Readable } from 'node:stream'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Static } from '@sinclair/typebox'
import type { FastifyRequest } from 'fastify'
import { createImport } from '../../../generated/operations/createImport.js'
import { getImport } from '../../../generated/operations/getImport.js'
import { getImportErrors } from '../../../generated/operations/getImportErrors.js'
import { HttpError, validationFailed } from '../../../lib/http-errors.js'
import { SpooledUpload, spoolUpload, UploadRefused } from '../../../lib/spooled-upload.js'
import * as imports from '../../../services/imports.js'

const MAX_MEGABYTES = imports.IMPORT_MAX_BYTES / (1024 * 1024)

function refusal(error: unknown): unknown {
  if (!(error instanceof UploadRefused)) return error
  return error.reason === 'too_large'
    ? new HttpError(413, 'Payload too large', `The file is larger than ${MAX_MEGABYTES} MB`)
    : validationFailed([{ path: 'body', message: 'must be UTF-8 text' }])
}

/** The upload of a request, once spooled; removed from disk when the answer has gone. */
function uploadOf(request: FastifyRequest): SpooledUpload {
  if (!(request.body instanceof SpooledUpload)) {
    throw new HttpError(415, 'Unsupported media type', 'Send the file as text/csv')
  }
  return request.body
}

/**
 * Bulk imports: POST /imports takes a CSV file (`text/csv` only, up to 50 MB, spooled to disk
 * while it is hashed, so the Idempotency-Key fingerprint covers its bytes), GET
 * /imports/{importId} its progress, GET /imports/{importId}/errors its rejected rows as CSV.
 */
const importRoutes: FastifyPluginAsyncTypebox = async (app) => {
  // In this plugin only: the import route reads CSV, and nothing else.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('text/csv', function spool(_request, payload, done) {
    spoolUpload(payload, imports.IMPORT_MAX_BYTES).then(
      (upload) => done(null, upload),
      (error: unknown) => done(refusal(error) as Error, undefined),
    )
  })
  app.addContentTypeParser('*', function refuse(_request, _payload, done) {
    done(new HttpError(415, 'Unsupported media type', 'Send the file as text/csv'), undefined)
  })
  app.addHook('onResponse', async function discardUpload(request) {
    if (request.body instanceof SpooledUpload) await request.body.discard()
  })

  app.route({
    ...createImport,
    config: { idempotent: true },
    handler: async function startImport(request, reply) {
      const { businessId } = request.params
      const upload = uploadOf(request)
      const started = await imports.startImport(
        request.db,
        businessId,
        {
          mode: request.query.mode ?? 'create',
          dryRun: request.query.dry_run ?? false,
          userSub: request.user.id,
        },
        upload.open(),
      )
      return reply
        .code(202)
        .header('location', `/api/customers/${businessId}/imports/${started.id}`)
        .send({ import: started })
    },
  })

  app.route({
    ...getImport,
    handler: async function readImport(request) {
      const { businessId, importId } = request.params
      return { import: await imports.getImport(app.db, businessId, importId) }
    },
  })

  // The file is not a JSON answer, so the document gives it no schema: the types are said here.
  app.route<{
    Params: Static<typeof getImportErrors.schema.params>
    Reply: Readable | undefined
  }>({
    ...getImportErrors,
    handler: async function readImportErrors(request, reply) {
      const { businessId, importId } = request.params
      const chunks = await imports.importErrorsCsv(app.db, businessId, importId)
      reply
        .type('text/csv; charset=utf-8; header=present')
        .header('content-disposition', `attachment; filename="import-${importId}-errors.csv"`)
        .header('cache-control', 'no-store')
      if (request.method === 'HEAD') {
        await chunks.return(undefined)
        return reply.send(undefined)
      }
      return reply.send(Readable.from(chunks, { objectMode: false }))
    },
  })
}

export default importRoutes
