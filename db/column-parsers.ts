import pg from 'pg'

export const INT8 = 20
export const INT8_ARRAY = 1016

/**
 * int8 (ids, counts) as a JS number, for both drivers: `pg` would give a string and PGlite a
 * number that silently loses digits past 2^53. Such an id cannot be represented, so fail loudly.
 */
export function parseInt8(text: string): number {
  const value = Number(text)
  if (!Number.isSafeInteger(value)) {
    throw new RangeError(`int8 value ${text} is beyond 2^53 and cannot be read exactly`)
  }
  return value
}

/** `pg`'s type parsers with int8 and int8[] as numbers; timestamps stay `Date`, numeric text. */
export const pgTypes = {
  getTypeParser(oid: number, format?: 'text' | 'binary'): unknown {
    if (format !== 'binary') {
      if (oid === INT8) return parseInt8
      if (oid === INT8_ARRAY) {
        // int8[] is not among pg's named builtins, though its parser is.
        const typeParserOf = pg.types.getTypeParser as (oid: number, format: string) => unknown
        const parseArray = typeParserOf(INT8_ARRAY, 'text') as (text: string) => string[]
        return (text: string) => parseArray(text).map((item) => parseInt8(item))
      }
    }
    return pg.types.getTypeParser(oid, format ?? 'text')
  },
} as pg.CustomTypesConfig
