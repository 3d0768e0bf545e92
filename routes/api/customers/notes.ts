import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { addNote } from '../../../generated/operations/addNote.js'
import { listNotes } from '../../../generated/operations/listNotes.js'
import * as notes from '../../../services/notes.js'

/** Endpoints 7–8: notes on a customer. */
const noteRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.route({
    ...addNote,
    config: { idempotent: true },
    handler: async function add(request, reply) {
      const { businessId, customerId } = request.params
      const note = await notes.addNote(
        request.db,
        businessId,
        customerId,
        request.body,
        request.user.id,
      )
      reply.code(201)
      return { message: 'Note added successfully' as const, note }
    },
  })

  app.route({
    ...listNotes,
    handler: async function list(request) {
      const { businessId, customerId } = request.params
      const rows = await notes.listNotes(app.db, businessId, customerId, request.query)
      return { notes: rows, count: rows.length }
    },
  })
}

export default noteRoutes
