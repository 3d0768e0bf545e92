import type { CountryCode } from 'libphonenumber-js'
import { findBusinessCountry } from '../db/businesses.js'
import type { Executor } from '../db/executor.js'
import { invalid } from '../lib/domain-errors.js'
import { isCountryCode, toE164 } from '../lib/phone.js'

/**
 * Businesses' countries, read once per database handle: nothing in this service changes a
 * country, so a search or a create costs no extra round trip after the first.
 */
const countriesByDatabase = new WeakMap<Executor, Map<number, CountryCode>>()

/** The country phone numbers of this business are read in (`KE` unless it says otherwise). */
export async function businessCountry(db: Executor, businessId: number): Promise<CountryCode> {
  let countries = countriesByDatabase.get(db)
  if (!countries) {
    countries = new Map()
    countriesByDatabase.set(db, countries)
  }
  const known = countries.get(businessId)
  if (known) return known
  const country = await findBusinessCountry(db, businessId)
  const code = isCountryCode(country) ? country : 'KE'
  countries.set(businessId, code)
  return code
}

/** The E.164 form of a phone written for `country`, or `Invalid` naming the field. */
export function phoneIn(country: CountryCode, phone: string): string {
  const e164 = toE164(phone, country)
  if (!e164) throw invalid('phone', 'must be a valid phone number')
  return e164
}

/** The E.164 form of a phone given for this business, or `Invalid` naming the field. */
export async function phoneOf(db: Executor, businessId: number, phone: string): Promise<string> {
  return phoneIn(await businessCountry(db, businessId), phone)
}
