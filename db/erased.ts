/** What an erased free text becomes (note contents, consent evidence): kept as a row, unreadable. */
export const ERASED_TEXT = '[erased]'
