import { listChanges } from '../db/customer-changes.js'
import { customerExists } from '../db/customers.js'
import type { Executor } from '../db/executor.js'
import type { CustomerChanges } from '../generated/schemas/CustomerChanges.js'
import type { ChangesCursorCodec } from '../lib/changes-cursor.js'
import { NotFound } from '../lib/domain-errors.js'

/** A page of the customer's change history, newest first; `NotFound` for an unknown customer. */
export async function listCustomerChanges(
  db: Executor,
  businessId: number,
  customerId: number,
  query: { limit?: number; after?: string },
  cursors: ChangesCursorCodec,
): Promise<CustomerChanges> {
  const limit = query.limit ?? 20
  const scope = { customerId }
  const after =
    query.after === undefined ? undefined : cursors.decode(query.after, businessId, scope)
  const rows = await listChanges(db, businessId, customerId, {
    limit: limit + 1,
    beforeId: after?.id,
  })
  // Every customer has at least its creation: no rows means no customer.
  if (rows.length === 0 && after === undefined) {
    if (!(await customerExists(db, businessId, customerId))) throw new NotFound('customer')
  }
  const page = rows.slice(0, limit)
  const last = page.at(-1)
  return {
    changes: page.map((row) => ({
      at: row.at.toISOString(),
      actor: row.actor,
      request_id: row.request_id,
      action: row.action,
      fields: row.fields,
    })),
    next: rows.length > limit && last ? cursors.encode(businessId, scope, { id: last.id }) : null,
  }
}
