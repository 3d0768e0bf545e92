import { sql, type Kysely, type RawBuilder } from 'kysely'

// The rules of lib/text.ts, restated in PostgreSQL's regular expressions (a migration never
// imports application code; test/migrations/normalise-stored-text.test.ts keeps the two equal).
const SPACERS = String.raw`\u200B\u2060\uFEFF\u180E`
const JOINERS = String.raw`\u200C\u200D`
const BIDI_CONTROLS = String.raw`\u200E\u200F\u202A-\u202E\u2066-\u2069\u061C`
export const NAME_INVISIBLES = `[${SPACERS}${JOINERS}${BIDI_CONTROLS}]`
export const FREE_TEXT_INVISIBLES = `[${SPACERS}${BIDI_CONTROLS}]`
/** What JavaScript's trim() removes. */
const SPACE = String.raw`[\s\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000\uFEFF]`
const EDGE_SPACE = `^${SPACE}+|${SPACE}+$`

/** Invisible characters removed, then NFC, then trimmed: the order the API cleans in. */
const cleaned = (column: string, invisibles: string | undefined): RawBuilder<string> => {
  const ref = sql.ref(column)
  const visible =
    invisibles === undefined ? ref : sql`regexp_replace(${ref}, ${invisibles}, '', 'g')`
  return sql`regexp_replace(normalize(${visible}, NFC), ${EDGE_SPACE}, '', 'g')`
}

interface Column {
  table: string
  column: string
  invisibles?: string
  maxLength: number
  /** Nullable: a value left empty becomes null (absent), as the API treats an empty string. */
  nullable: boolean
}

const COLUMNS: Column[] = [
  {
    table: 'customers',
    column: 'name',
    invisibles: NAME_INVISIBLES,
    maxLength: 255,
    nullable: false,
  },
  { table: 'customers', column: 'email', maxLength: 255, nullable: true },
  {
    table: 'customers',
    column: 'address',
    invisibles: FREE_TEXT_INVISIBLES,
    maxLength: 500,
    nullable: true,
  },
  {
    table: 'customer_notes',
    column: 'content',
    invisibles: FREE_TEXT_INVISIBLES,
    maxLength: 2000,
    nullable: false,
  },
  {
    table: 'customer_preferences',
    column: 'best_contact_time',
    invisibles: FREE_TEXT_INVISIBLES,
    maxLength: 100,
    nullable: true,
  },
]

/**
 * Rows written before the API cleaned its input (lib/text.ts) may hold NFD text or invisible
 * characters: "José" in NFD would not be found by a search in NFC. Each text column is brought
 * to the form the API now stores. Only rows that differ are written; a required value that
 * would be left empty, or would no longer fit its column once composed, is left as it is (a
 * person has to choose a name). `updated_at` is not touched: nobody edited the customer.
 * Running it again changes nothing.
 */
export async function up(db: Kysely<any>): Promise<void> {
  for (const { table, column, invisibles, maxLength, nullable } of COLUMNS) {
    const ref = sql.ref(column)
    const next = cleaned(column, invisibles)
    const value = nullable ? sql`nullif(${next}, '')` : next
    const needsWork = invisibles
      ? sql`(${ref} is not nfc normalized or ${ref} ~ ${invisibles} or ${ref} ~ ${EDGE_SPACE})`
      : sql`(${ref} is not nfc normalized or ${ref} ~ ${EDGE_SPACE})`
    await sql`update ${sql.table(table)} set ${ref} = ${value}
      where ${needsWork}
        and ${value} is distinct from ${ref}
        and char_length(${next}) <= ${maxLength}
        ${nullable ? sql`` : sql`and ${next} <> ''`}`.execute(db)
  }
}

/** Nothing to undo: the text says the same, in the form the API stores. */
export async function down(): Promise<void> {}
