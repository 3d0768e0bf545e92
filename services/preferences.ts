import {
  updatePreferences as updatePreferencesRow,
  type PreferencesChanges,
} from '../db/customer-preferences.js'
import type { ExpectedVersions } from '../db/customers.js'
import { inTransaction, type Executor } from '../db/executor.js'
import type { Preferences } from '../generated/schemas/Preferences.js'
import type { PreferencesUpdate } from '../generated/schemas/PreferencesUpdate.js'
import { invalid } from '../lib/domain-errors.js'
import { flagsOf, writeFlags } from './consents.js'
import { unchangedBecause } from './customers.js'
import { toPreferences } from './representations.js'

export const FAVORITES_MESSAGE = 'must be an array of product ids, or a string holding one in JSON'

/** Order kept, duplicates dropped. */
const uniqueIds = (ids: number[]): number[] => [...new Set(ids)]

/**
 * Changes the preference fields given (favourite products kept once each, in order) and adds
 * one to the customer's version. With `expected` versions (If-Match), only a customer at one
 * of them is changed. The contact flags are not written here but recorded in the consent
 * ledger (in services/consents.ts `flagChanges` order), which then sets them, in the same
 * transaction.
 */
export async function updatePreferences(
  db: Executor,
  businessId: number,
  customerId: number,
  input: PreferencesUpdate,
  expected: ExpectedVersions = undefined,
): Promise<Preferences> {
  const {
    favorite_products: favorites,
    do_not_contact,
    can_receive_offers,
    can_receive_loyalty,
    ...fields
  } = input
  const flags = flagsOf({ do_not_contact, can_receive_offers, can_receive_loyalty })
  const changes: PreferencesChanges = { ...fields }
  if (favorites !== undefined) {
    // The HTTP adapter parses the JSON-string form; here only an array is a list of ids.
    if (typeof favorites === 'string') throw invalid('favorite_products', FAVORITES_MESSAGE)
    changes.favorite_products = uniqueIds(favorites)
  }
  return inTransaction(db, async (trx) => {
    // Its first statement locks the customer's row, then the preferences row.
    const row = await updatePreferencesRow(trx, businessId, customerId, changes, expected)
    if (!row) throw await unchangedBecause(trx, businessId, customerId, expected)
    const views = await writeFlags(trx, businessId, customerId, flags)
    if (!views) return toPreferences(row)
    return toPreferences({
      ...row,
      do_not_contact: views.do_not_contact,
      can_receive_offers: views.can_receive_offers,
      can_receive_loyalty: views.can_receive_loyalty,
    })
  })
}
