import type { CountryCode } from 'libphonenumber-js'
import { findBusinessCountry } from '../../../db/businesses.js'
import type { Executor } from '../../../db/executor.js'
import { validationFailed } from '../../../lib/http-errors.js'
import { isCountryCode, toE164 } from '../../../lib/phone.js'

export async function countryOf(db: Executor, businessId: number): Promise<CountryCode> {
  const country = await findBusinessCountry(db, businessId)
  return isCountryCode(country) ? country : 'KE'
}

/** The E.164 form of a phone from a request body, or a 400 naming the field. */
export async function phoneFromInput(
  db: Executor,
  businessId: number,
  phone: string,
): Promise<string> {
  const e164 = toE164(phone, await countryOf(db, businessId))
  if (!e164) throw validationFailed([{ path: 'phone', message: 'must be a valid phone number' }])
  return e164
}
