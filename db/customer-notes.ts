import { ERASED_TEXT } from './erased.js'
import type { Selectable } from 'kysely'
import type { CustomerNotesTable, NoteType } from './database.js'
import type { Executor } from './executor.js'

export type NoteRow = Selectable<CustomerNotesTable>

/**
 * Adds a note if the customer belongs to the business and was not erased; undefined otherwise.
 */
export async function insertNote(
  db: Executor,
  businessId: number,
  customerId: number,
  note: { note_type?: NoteType; content: string; created_by: number },
): Promise<NoteRow | undefined> {
  return db
    .insertInto('customer_notes')
    .columns(['business_id', 'customer_id', 'note_type', 'content', 'created_by'])
    .expression((eb) =>
      eb
        .selectFrom('customers')
        .select((select) => [
          'customers.business_id',
          'customers.id',
          select.val(note.note_type ?? 'personal').as('note_type'),
          select.val(note.content).as('content'),
          select.val(note.created_by).as('created_by'),
        ])
        .where('customers.business_id', '=', businessId)
        .where('customers.id', '=', customerId)
        .where('customers.erased_at', 'is', null),
    )
    .returningAll()
    .executeTakeFirst()
}

/** Newest first; notes written in the same instant keep their insertion order, newest first. */
export async function listNotes(
  db: Executor,
  businessId: number,
  customerId: number,
  page: { limit: number; offset: number },
): Promise<NoteRow[]> {
  return db
    .selectFrom('customer_notes')
    .selectAll()
    .where('business_id', '=', businessId)
    .where('customer_id', '=', customerId)
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(page.limit)
    .offset(page.offset)
    .execute()
}

/** The customer's notes after the note `afterId`, oldest first: a keyset batch of an export. */
export async function listNotesAfter(
  db: Executor,
  businessId: number,
  customerId: number,
  afterId: number,
  limit: number,
): Promise<NoteRow[]> {
  return db
    .selectFrom('customer_notes')
    .selectAll()
    .where('business_id', '=', businessId)
    .where('customer_id', '=', customerId)
    .where('id', '>', afterId)
    .orderBy('id')
    .limit(limit)
    .execute()
}

/** The erasure: every note's content becomes `[erased]` (the notes stay, with their dates). */
export async function eraseNoteContents(
  db: Executor,
  businessId: number,
  customerId: number,
): Promise<void> {
  await db
    .updateTable('customer_notes')
    .set({ content: ERASED_TEXT })
    .where('business_id', '=', businessId)
    .where('customer_id', '=', customerId)
    .execute()
}

/** Notes of new customers (an import's batch), in one statement. */
export async function insertNotesOf(
  db: Executor,
  businessId: number,
  notes: { customer_id: number; note_type: NoteType; content: string; created_by: number }[],
): Promise<void> {
  if (notes.length === 0) return
  await db
    .insertInto('customer_notes')
    .values(notes.map((note) => ({ ...note, business_id: businessId })))
    .execute()
}
