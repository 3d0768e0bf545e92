const MONEY = /^\d{1,10}(\.\d{1,2})?$/
const QUANTITY = /^\d{1,9}(\.\d{1,3})?$/

/**
 * A decimal string for PostgreSQL numeric. A JSON number is taken in its shortest round-trip
 * form, which for at most 12 significant digits is exactly what the sender wrote; anything
 * else (exponents, more decimals) is refused rather than rounded.
 */
function decimal(value: string | number, pattern: RegExp): string | undefined {
  const text = typeof value === 'number' ? String(value) : value
  return pattern.test(text) ? text : undefined
}

export const moneyFrom = (value: string | number): string | undefined => decimal(value, MONEY)
export const quantityFrom = (value: string | number): string | undefined => decimal(value, QUANTITY)

/** True when a decimal string is zero ("0", "0.00"). */
export const isZero = (value: string): boolean => /^0+(\.0+)?$/.test(value)
