import type { CountryCode } from 'libphonenumber-js'
import { findBusinessCountry } from '../../../db/businesses.js'
import type { Executor } from '../../../db/executor.js'
import { validationFailed } from '../../../lib/http-errors.js'
import { isCountryCode, toE164 } from '../../../lib/phone.js'

export type CountryLookup = (businessId: number) => Promise<CountryCode>

/**
 * A business's country, read once per process: nothing in this service changes it, and a
 * search or a create then costs no extra round trip.
 */
export function createCountryLookup(db: Executor): CountryLookup {
  const countries = new Map<number, CountryCode>()
  return async function countryOf(businessId) {
    const known = countries.get(businessId)
    if (known) return known
    const country = await findBusinessCountry(db, businessId)
    const code = isCountryCode(country) ? country : 'KE'
    countries.set(businessId, code)
    return code
  }
}

/** The E.164 form of a phone from a request body, or a 400 naming the field. */
export async function phoneFromInput(
  countryOf: CountryLookup,
  businessId: number,
  phone: string,
): Promise<string> {
  const e164 = toE164(phone, await countryOf(businessId))
  if (!e164) throw validationFailed([{ path: 'phone', message: 'must be a valid phone number' }])
  return e164
}
