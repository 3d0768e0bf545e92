import { Readable } from 'node:stream'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Static } from '@sinclair/typebox'
import Negotiator from 'negotiator'
import { exportCustomers } from '../../../generated/operations/exportCustomers.js'
import { notAcceptable } from '../../../lib/http-errors.js'
import * as listExport from '../../../services/list-export.js'

const MEDIA_TYPES = { csv: 'text/csv', ndjson: 'application/x-ndjson' } as const
const CONTENT_TYPES = {
  csv: 'text/csv; charset=utf-8; header=present',
  ndjson: 'application/x-ndjson; charset=utf-8',
} as const

/** `format` if given, else what `Accept` prefers (CSV for `*\/*` or none); undefined: a 406. */
function formatOf(
  format: listExport.ExportFormat | undefined,
  accept: string | undefined,
): listExport.ExportFormat | undefined {
  if (format) return format
  const preferred = new Negotiator({ headers: { accept: accept ?? '*/*' } }).mediaType([
    MEDIA_TYPES.csv,
    MEDIA_TYPES.ndjson,
  ])
  if (preferred === MEDIA_TYPES.ndjson) return 'ndjson'
  return preferred === MEDIA_TYPES.csv ? 'csv' : undefined
}

/** GET /export: the business's customers as a CSV or NDJSON file, streamed (not GET /{customerId}/export, one customer's own data: export.ts). */
const listExportRoutes: FastifyPluginAsyncTypebox = async (app) => {
  // The file is not a JSON answer, so the document gives it no schema: the types are said here.
  app.route<{
    Params: Static<typeof exportCustomers.schema.params>
    Querystring: Static<typeof exportCustomers.schema.querystring>
    Reply: Readable | undefined
  }>({
    ...exportCustomers,
    handler: async function exportList(request, reply) {
      const { businessId } = request.params
      const format = formatOf(request.query.format, request.headers.accept)
      if (!format) throw notAcceptable(Object.values(MEDIA_TYPES))
      const chunks = await listExport.exportCustomers(app.db, businessId, request.query, format)
      const date = new Date().toISOString().slice(0, 10)
      reply
        .type(CONTENT_TYPES[format])
        .header(
          'content-disposition',
          `attachment; filename="customers-${businessId}-${date}.${format}"`,
        )
        // Personal data: no shared cache keeps a copy.
        .header('cache-control', 'no-store')
      if (request.method === 'HEAD') {
        // Fastify would read a streamed body to its end and throw it away.
        await chunks.return(undefined)
        return reply.send(undefined)
      }
      const exported = app.serviceMetrics.customersExported.labels({ format })
      async function* text() {
        for await (const chunk of chunks) {
          exported.inc(chunk.customers)
          yield chunk.text
        }
      }
      // Bytes, not objects: the stream asks for the next batch only once the one before has
      // (nearly) left for the socket, which pauses it while the client does not read.
      return reply.send(Readable.from(text(), { objectMode: false }))
    },
  })
}

export default listExportRoutes
