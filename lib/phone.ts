import { createHash } from 'node:crypto'
import {
  getCountryCallingCode,
  parsePhoneNumberFromString,
  type CountryCode,
} from 'libphonenumber-js/max'

/** E.164 form of a phone number written any common way, or undefined when it is not a valid number. */
export function toE164(input: string, country: CountryCode): string | undefined {
  const parsed = parsePhoneNumberFromString(input, country)
  return parsed?.isValid() ? parsed.number : undefined
}

const PHONE_LIKE = /^\+?[\d\s().-]+$/

/**
 * How a search text that looks like (part of) a phone number appears inside an E.164 number:
 * `0712 345` → `254712345`, `+254 712` → `254712`, `712345678` stays. Undefined for other text.
 */
export function phoneSearchDigits(text: string, country: CountryCode): string | undefined {
  if (!PHONE_LIKE.test(text)) return undefined
  const digits = text.replace(/\D/g, '')
  if (digits.length < 3) return undefined
  const trunkPrefixed = !text.trimStart().startsWith('+') && digits.startsWith('0')
  return trunkPrefixed ? `${getCountryCallingCode(country)}${digits.slice(1)}` : digits
}

export function isCountryCode(value: string): value is CountryCode {
  try {
    getCountryCallingCode(value as CountryCode)
    return true
  } catch {
    return false
  }
}

/**
 * The hash M-Pesa hides a payer's number behind: SHA-256 (lower-case hex) of the E.164
 * number's digits without `+` — `+254712345678` → sha256("254712345678"). The database keeps
 * the same hash of every customer's phone (customers.phone_sha256).
 */
export function phoneSha256(e164: string): string {
  return createHash('sha256').update(e164.replace(/^\+/, ''), 'utf8').digest('hex')
}
