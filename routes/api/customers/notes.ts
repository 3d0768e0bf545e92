import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { insertNote, listNotes as listNoteRows } from '../../../db/customer-notes.js'
import { customerExists } from '../../../db/customers.js'
import { addNote } from '../../../generated/operations/addNote.js'
import { listNotes } from '../../../generated/operations/listNotes.js'
import { customerNotFound } from '../../../lib/http-errors.js'
import { toNote } from '../../../lib/representations.js'

const noteRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post('/:customerId/notes', { schema: addNote }, async function add(request, reply) {
    const { businessId, customerId } = request.params
    const row = await insertNote(app.db, businessId, customerId, {
      note_type: request.body.note_type,
      content: request.body.content,
      created_by: request.user.id,
    })
    if (!row) throw customerNotFound()
    reply.code(201)
    return { message: 'Note added successfully' as const, note: toNote(row) }
  })

  app.get('/:customerId/notes', { schema: listNotes }, async function list(request) {
    const { businessId, customerId } = request.params
    const { limit = 20, offset = 0 } = request.query
    const [exists, rows] = await Promise.all([
      customerExists(app.db, businessId, customerId),
      listNoteRows(app.db, businessId, customerId, { limit, offset }),
    ])
    if (!exists) throw customerNotFound()
    return { notes: rows.map(toNote), count: rows.length }
  })
}

export default noteRoutes
