import {
  updatePreferences as updatePreferencesRow,
  type PreferencesChanges,
} from '../db/customer-preferences.js'
import type { ExpectedVersions } from '../db/customers.js'
import type { Executor } from '../db/executor.js'
import type { Preferences } from '../generated/schemas/Preferences.js'
import type { PreferencesUpdate } from '../generated/schemas/PreferencesUpdate.js'
import { invalid } from '../lib/domain-errors.js'
import { unchangedBecause } from './customers.js'
import { toPreferences } from './representations.js'

export const FAVORITES_MESSAGE = 'must be an array of product ids, or a string holding one in JSON'

/** Order kept, duplicates dropped. */
const uniqueIds = (ids: number[]): number[] => [...new Set(ids)]

/**
 * Changes the preference fields given (favourite products kept once each, in order) and adds
 * one to the customer's version. With `expected` versions (If-Match), only a customer at one
 * of them is changed.
 */
export async function updatePreferences(
  db: Executor,
  businessId: number,
  customerId: number,
  input: PreferencesUpdate,
  expected: ExpectedVersions = undefined,
): Promise<Preferences> {
  const { favorite_products: favorites, ...fields } = input
  const changes: PreferencesChanges = { ...fields }
  if (favorites !== undefined) {
    // The HTTP adapter parses the JSON-string form; here only an array is a list of ids.
    if (typeof favorites === 'string') throw invalid('favorite_products', FAVORITES_MESSAGE)
    changes.favorite_products = uniqueIds(favorites)
  }
  const row = await updatePreferencesRow(db, businessId, customerId, changes, expected)
  if (!row) throw await unchangedBecause(db, businessId, customerId, expected)
  return toPreferences(row)
}
