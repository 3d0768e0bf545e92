/**
 * The same JSON value with every string that is one of `texts` replaced by `replacement`:
 * a stored answer keeps its shape (so it still replays as its schema says) without what was
 * erased.
 */
export function redactStrings(
  value: unknown,
  texts: ReadonlySet<string>,
  replacement: string,
): unknown {
  if (typeof value === 'string') return texts.has(value) ? replacement : value
  if (Array.isArray(value)) return value.map((item) => redactStrings(item, texts, replacement))
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, redactStrings(item, texts, replacement)]),
    )
  }
  return value
}
