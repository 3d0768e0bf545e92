import { invalid as invalidField } from './domain-errors.js'

/** Where a keyset page ended, and under which ordering and filters it is valid. */
export interface ListCursor {
  sortBy: 'created_at' | 'name' | 'id'
  sortOrder: 'asc' | 'desc'
  isActive: boolean
  customerType: string | null
  /** The last row's sort key as the database wrote it (text keeps timestamps' microseconds). */
  key: string
  id: number
}

export function encodeCursor(cursor: ListCursor): string {
  return Buffer.from(JSON.stringify(cursor)).toString('base64url')
}

/** What the database writes for each sort key; anything else never came from this service. */
const KEY_SHAPES = {
  created_at: /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,6})?[+-]\d{2}(:\d{2})?$/,
  id: /^[1-9]\d{0,15}$/,
  // A lower-cased name: text without control characters (a NUL cannot even be stored).
  name: /^[^\p{Cc}]{1,255}$/u,
} as const

const invalid = (message: string) => invalidField('after', message)

/** The cursor, checked against the request it comes back with (400 when it does not fit). */
export function decodeCursor(text: string, expected: Omit<ListCursor, 'key' | 'id'>): ListCursor {
  let cursor: Partial<ListCursor>
  try {
    cursor = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as Partial<ListCursor>
  } catch {
    throw invalid('is not a cursor this service made')
  }
  if (
    typeof cursor !== 'object' ||
    cursor === null ||
    typeof cursor.key !== 'string' ||
    typeof cursor.id !== 'number' ||
    !Number.isSafeInteger(cursor.id)
  ) {
    throw invalid('is not a cursor this service made')
  }
  if (!KEY_SHAPES[expected.sortBy].test(cursor.key))
    throw invalid('is not a cursor this service made')
  const matches =
    cursor.sortBy === expected.sortBy &&
    cursor.sortOrder === expected.sortOrder &&
    cursor.isActive === expected.isActive &&
    (cursor.customerType ?? null) === expected.customerType
  if (!matches) {
    throw invalid('belongs to a list with another sort_by, sort_order, filter_type or is_active')
  }
  return cursor as ListCursor
}
