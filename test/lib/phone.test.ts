import type { CountryCode } from 'libphonenumber-js'
import t from 'tap'
import { isCountryCode, phoneSearchDigits, toE164 } from '../../lib/phone.js'

t.test('toE164 stores any common way of writing a number as E.164', async (t) => {
  const cases: { input: string; country: CountryCode; expected: string | undefined }[] = [
    { input: '0712 345 678', country: 'KE', expected: '+254712345678' },
    { input: '0712345678', country: 'KE', expected: '+254712345678' },
    { input: '712345678', country: 'KE', expected: '+254712345678' },
    { input: '+254 712 345 678', country: 'KE', expected: '+254712345678' },
    { input: '+254712345678', country: 'KE', expected: '+254712345678' },
    { input: '254712345678', country: 'KE', expected: '+254712345678' },
    { input: '(0712) 345-678', country: 'KE', expected: '+254712345678' },
    { input: '0712.345.678', country: 'KE', expected: '+254712345678' },
    { input: '0110 123 456', country: 'KE', expected: '+254110123456' },
    { input: '020 2222222', country: 'KE', expected: '+254202222222' },
    { input: '+1 212 736 5000', country: 'KE', expected: '+12127365000' },
    { input: '+256 772 123456', country: 'KE', expected: '+256772123456' },
    { input: '0772 123 456', country: 'UG', expected: '+256772123456' },
    { input: '0712 345 678', country: 'UG', expected: '+256712345678' },
    { input: '0712 345 67', country: 'KE', expected: undefined },
    { input: '0712 345 6789', country: 'KE', expected: undefined },
    { input: '07123456789012345678', country: 'KE', expected: undefined },
    { input: '123', country: 'KE', expected: undefined },
    { input: 'abc', country: 'KE', expected: undefined },
    { input: '', country: 'KE', expected: undefined },
  ]
  for (const { input, country, expected } of cases) {
    t.equal(toE164(input, country), expected, `${JSON.stringify(input)} in ${country}`)
  }
})

t.test('phoneSearchDigits gives how a phone-like query appears in E.164', async (t) => {
  const cases: { input: string; country: CountryCode; expected: string | undefined }[] = [
    { input: '0712345678', country: 'KE', expected: '254712345678' },
    { input: '0712 345', country: 'KE', expected: '254712345' },
    { input: '(0712) 345-678', country: 'KE', expected: '254712345678' },
    { input: '0 7 1 2', country: 'KE', expected: '254712' },
    { input: '071', country: 'KE', expected: '25471' },
    { input: '+254 712', country: 'KE', expected: '254712' },
    { input: '+254 712 345 678', country: 'KE', expected: '254712345678' },
    { input: '254712', country: 'KE', expected: '254712' },
    { input: '712345678', country: 'KE', expected: '712345678' },
    { input: '712-345', country: 'KE', expected: '712345' },
    { input: '0772', country: 'UG', expected: '256772' },
    { input: '07', country: 'KE', expected: undefined },
    { input: '12', country: 'KE', expected: undefined },
    { input: '+', country: 'KE', expected: undefined },
    { input: '', country: 'KE', expected: undefined },
    { input: 'wanjiru', country: 'KE', expected: undefined },
    { input: 'a1234', country: 'KE', expected: undefined },
    { input: '123abc', country: 'KE', expected: undefined },
  ]
  for (const { input, country, expected } of cases) {
    t.equal(phoneSearchDigits(input, country), expected, `${JSON.stringify(input)} in ${country}`)
  }
})

t.test('every search form of a number is found inside its E.164 form', async (t) => {
  const stored = toE164('0712 345 678', 'KE')
  t.equal(stored, '+254712345678', 'the stored form')
  for (const query of ['0712345678', '712345678', '+254 712 345 678', '254712', '0712 345']) {
    const digits = phoneSearchDigits(query, 'KE')
    t.ok(
      digits !== undefined && stored?.includes(digits),
      `${JSON.stringify(query)} → ${digits} is inside ${stored}`,
    )
  }
})

t.test('isCountryCode knows country codes', async (t) => {
  const cases: { input: string; expected: boolean }[] = [
    { input: 'KE', expected: true },
    { input: 'UG', expected: true },
    { input: 'TZ', expected: true },
    { input: 'XX', expected: false },
    { input: 'ke', expected: false },
    { input: '', expected: false },
  ]
  for (const { input, expected } of cases) {
    t.equal(isCountryCode(input), expected, JSON.stringify(input))
  }
})
