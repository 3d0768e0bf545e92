/** A date PostgreSQL can store: a real instant (no Feb 30, no :60) in years 1 to 9999. */
export function isStorableDate(date: Date): boolean {
  const year = date.getUTCFullYear()
  return !Number.isNaN(date.getTime()) && year >= 1 && year <= 9999
}
