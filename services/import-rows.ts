import type { CountryCode } from 'libphonenumber-js'
import { CustomerCreate } from '../generated/schemas/CustomerCreate.js'
import { NoteCreate } from '../generated/schemas/NoteCreate.js'
import { normaliseBody, unstorableCharacters, type JsonObject } from '../lib/body-normalisation.js'
import { Invalid, type ErrorDetail } from '../lib/domain-errors.js'
import { buildValidatorCompiler } from '../lib/validation.js'
import { validationDetails } from '../lib/validation-details.js'
import { phoneIn } from './business-country.js'

/** The columns an import file may have, in the order SPEC lists them. */
export const IMPORT_COLUMNS = [
  'name',
  'phone',
  'email',
  'address',
  'customer_type',
  'prefer_sms',
  'prefer_email',
  'prefer_call',
  'notes',
] as const

export type ImportColumn = (typeof IMPORT_COLUMNS)[number]

const BOOLEAN_COLUMNS = new Set<string>(['prefer_sms', 'prefer_email', 'prefer_call'])
const BOOLEAN_WORDS: Readonly<Record<string, boolean>> = {
  true: true,
  yes: true,
  '1': true,
  false: false,
  no: false,
  '0': false,
}

/** One problem of a rejected row: its column (empty for the whole row) and what is wrong. */
export interface RowProblem {
  column: string
  message: string
}

/** A row that passed: the customer as `POST /api/customers/{businessId}` would take it. */
export interface AcceptedRow {
  rowNumber: number
  /** The cells given (an empty cell is left out); the phone in E.164. */
  customer: CustomerCreate
  /** The `notes` cell, cleaned like a note's content; undefined when empty. */
  note: string | undefined
}

export interface RejectedRow {
  rowNumber: number
  problems: RowProblem[]
}

const isColumn = (name: string): name is ImportColumn =>
  (IMPORT_COLUMNS as readonly string[]).includes(name)

/**
 * The header's columns in file order; `Invalid` (a 400 at upload) for an unknown or repeated
 * column, or without `name`.
 */
export function readHeader(cells: string[]): ImportColumn[] {
  const details: ErrorDetail[] = []
  const seen = new Set<string>()
  const names = cells.map((cell) => cell.trim().toLowerCase())
  for (const name of names) {
    if (!isColumn(name)) {
      details.push({
        path: 'header',
        message: `has an unknown column "${name}" (the columns are ${IMPORT_COLUMNS.join(', ')})`,
      })
    } else if (seen.has(name)) {
      details.push({ path: 'header', message: `has the column "${name}" twice` })
    }
    seen.add(name)
  }
  if (!seen.has('name')) details.push({ path: 'header', message: 'must have a "name" column' })
  if (details.length > 0) throw new Invalid(details)
  return names as ImportColumn[]
}

/** Endpoint 1's body schema and the note's, compiled as the routes compile them. */
const compile = buildValidatorCompiler()
const validateCustomer = compile({ schema: CustomerCreate, httpPart: 'body' })
const validateNote = compile({ schema: NoteCreate, httpPart: 'body' })

const columnOfPath = (path: string): string => (path === 'content' ? 'notes' : path)

function problemsOf(errors: unknown, context: string): RowProblem[] {
  const details = validationDetails(
    (errors ?? []) as Parameters<typeof validationDetails>[0],
    context,
  )
  return details.map((detail) => ({ column: columnOfPath(detail.path), message: detail.message }))
}

/** A boolean cell as its value; any other text stays text, for the schema to refuse by name. */
const booleanOf = (cell: string): boolean | string =>
  BOOLEAN_WORDS[cell.trim().toLowerCase()] ?? cell

/**
 * A data row checked exactly as endpoint 1 checks a body: the same text cleaning
 * (lib/body-normalisation.ts), the same schema, the same phone rule, plus the note's schema for
 * `notes`. An empty cell is left out (the default on create, unchanged on upsert). Problems
 * never quote the cell's value.
 */
export function readRow(
  columns: ImportColumn[],
  cells: string[],
  rowNumber: number,
  country: CountryCode,
): AcceptedRow | RejectedRow {
  if (cells.length !== columns.length) {
    const message = `has ${cells.length} fields; the header has ${columns.length}`
    return { rowNumber, problems: [{ column: '', message }] }
  }
  const given: JsonObject = {}
  let noteCell: string | undefined
  columns.forEach((column, index) => {
    const cell = cells[index] ?? ''
    if (cell === '') return
    if (column === 'notes') noteCell = cell
    else given[column] = BOOLEAN_COLUMNS.has(column) ? booleanOf(cell) : cell
  })
  const unstorable = unstorableCharacters({ ...given, notes: noteCell }).map((detail) => ({
    column: detail.path,
    message: detail.message,
  }))
  if (unstorable.length > 0) return { rowNumber, problems: unstorable }

  const customer = normaliseBody(given, CustomerCreate.properties)
  const problems = validateCustomer(customer) ? [] : problemsOf(validateCustomer.errors, 'row')
  let note: string | undefined
  if (noteCell !== undefined) {
    const body = normaliseBody({ content: noteCell }, NoteCreate.properties)
    if (validateNote(body)) note = body.content as string
    else problems.push(...problemsOf(validateNote.errors, 'notes'))
  }
  const phone = customer.phone
  if (typeof phone === 'string' && !problems.some((problem) => problem.column === 'phone')) {
    try {
      customer.phone = phoneIn(country, phone)
    } catch (error) {
      if (!(error instanceof Invalid)) throw error
      problems.push(
        ...error.details.map((detail) => ({ column: 'phone', message: detail.message })),
      )
    }
  }
  if (problems.length > 0) return { rowNumber, problems: inColumnOrder(problems, columns) }
  return { rowNumber, customer: customer as CustomerCreate, note }
}

function inColumnOrder(problems: RowProblem[], columns: ImportColumn[]): RowProblem[] {
  const place = (problem: RowProblem) => columns.indexOf(problem.column as ImportColumn)
  return [...problems].sort((a, b) => place(a) - place(b))
}

/** A row's problem that is no field's: it matched two customers. */
export const twoCustomersMatched = (rowNumber: number): RejectedRow => ({
  rowNumber,
  problems: [{ column: '', message: 'its phone and its e-mail belong to two different customers' }],
})

export const isRejected = (row: AcceptedRow | RejectedRow): row is RejectedRow => 'problems' in row
