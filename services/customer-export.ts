import { listChangesAfter } from '../db/customer-changes.js'
import { listConsentsAfter } from '../db/customer-consents.js'
import { listNotesAfter } from '../db/customer-notes.js'
import { listCustomerSalesAfter, type SaleRow } from '../db/customer-sales.js'
import { customerExists } from '../db/customers.js'
import type { Executor } from '../db/executor.js'
import { NotFound } from '../lib/domain-errors.js'
import { getCustomer } from './customers.js'
import { toConsent, toNote } from './representations.js'

/** Rows per statement while streaming a list: memory stays flat whatever the customer holds. */
const BATCH = 500

/** A ledger row as the export shows it: everything kept, the payer's phone included. */
function exportedSale(row: SaleRow) {
  return {
    sale_id: row.sale_id,
    total_amount: row.total_amount,
    items_count: row.items_count === null ? null : Number(row.items_count),
    payment_method: row.payment_method,
    completed_at: row.completed_at?.toISOString() ?? null,
    refunded_amount: row.refunded_amount,
    voided: row.voided,
    payer_phone: row.payer_phone,
    matched_by: row.matched_by,
    named_customer_id: row.named_customer_id,
  }
}

/** Every row of one list, a keyset batch at a time, as JSON array elements. */
async function* listOf<Row, Key>(
  read: (after: Key) => Promise<Row[]>,
  keyOf: (row: Row) => Key,
  first: Key,
  shown: (row: Row) => unknown,
): AsyncGenerator<string> {
  let after = first
  let separator = ''
  for (;;) {
    const rows = await read(after)
    for (const row of rows) {
      yield separator + JSON.stringify(shown(row))
      separator = ','
    }
    const last = rows.at(-1)
    if (rows.length < BATCH || last === undefined) return
    after = keyOf(last)
  }
}

/**
 * Everything held about one customer as one JSON document, streamed a batch at a time: the
 * customer, preferences and purchase history, then every note, consent record, sale (ledger
 * rows, with payers' phones) and change, oldest first. `NotFound` is thrown before the first byte (customers are
 * never removed, so that cannot go stale). Each batch is its own statement: no connection is
 * held while a slow reader drains the answer (on embedded PGlite, whose one connection everyone
 * shares, that would stop the service), so a write made while the export streams may or may not
 * be in it.
 */
export async function exportCustomer(
  db: Executor,
  businessId: number,
  customerId: number,
): Promise<AsyncIterable<string>> {
  if (!(await customerExists(db, businessId, customerId))) throw new NotFound('customer')
  return documentOf(db, businessId, customerId)
}

async function* documentOf(
  db: Executor,
  businessId: number,
  customerId: number,
): AsyncGenerator<string> {
  // No embedded notes: the document lists every note below.
  const {
    notes: _none,
    preferences,
    history,
    ...customer
  } = await getCustomer(db, businessId, customerId, 0)
  const opening = JSON.stringify({
    exported_at: new Date().toISOString(),
    customer,
    preferences,
    history,
  })
  yield `${opening.slice(0, -1)},"notes":[`
  yield* listOf(
    (after: number) => listNotesAfter(db, businessId, customerId, after, BATCH),
    (row) => row.id,
    0,
    toNote,
  )
  yield '],"consents":['
  yield* listOf(
    (after: number) => listConsentsAfter(db, businessId, customerId, after, BATCH),
    (row) => row.id,
    0,
    toConsent,
  )
  yield '],"sales":['
  yield* listOf(
    (after: string) => listCustomerSalesAfter(db, businessId, customerId, after, BATCH),
    (row) => row.sale_id,
    '',
    exportedSale,
  )
  yield '],"changes":['
  yield* listOf(
    (after: number) => listChangesAfter(db, businessId, customerId, after, BATCH),
    (row) => row.id,
    0,
    (change) => ({
      at: change.at.toISOString(),
      actor: change.actor,
      request_id: change.request_id,
      action: change.action,
      fields: change.fields,
    }),
  )
  yield ']}'
}
