import { insertNote, listNotes as listNoteRows } from '../db/customer-notes.js'
import { customerExists } from '../db/customers.js'
import type { NoteType } from '../db/database.js'
import type { Executor } from '../db/executor.js'
import type { Note } from '../generated/schemas/Note.js'
import { Conflict, NotFound } from '../lib/domain-errors.js'
import { toNote } from './representations.js'

/** A note on the customer, written by `authorId` (the token's user). */
export async function addNote(
  db: Executor,
  businessId: number,
  customerId: number,
  input: { note_type?: NoteType; content: string },
  authorId: number,
): Promise<Note> {
  const row = await insertNote(db, businessId, customerId, {
    note_type: input.note_type,
    content: input.content,
    created_by: authorId,
  })
  if (!row) {
    // Only a refusal asks why: no such customer, or one whose data was erased.
    if (await customerExists(db, businessId, customerId)) {
      throw new Conflict('Customer erased', `Customer ${customerId} was erased: no notes are added`)
    }
    throw new NotFound('customer')
  }
  return toNote(row)
}

/** The customer's notes, newest first. */
export async function listNotes(
  db: Executor,
  businessId: number,
  customerId: number,
  page: { limit?: number; offset?: number },
): Promise<Note[]> {
  const [exists, rows] = await Promise.all([
    customerExists(db, businessId, customerId),
    listNoteRows(db, businessId, customerId, { limit: page.limit ?? 20, offset: page.offset ?? 0 }),
  ])
  if (!exists) throw new NotFound('customer')
  return rows.map(toNote)
}
