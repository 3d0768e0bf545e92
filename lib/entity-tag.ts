/** The largest version a tag can name (the column is a PostgreSQL integer). */
const MAX_VERSION = 2_147_483_647

/** A customer's version as its strong entity tag: 3 → `"3"`. */
export const entityTag = (version: number): string => `"${version}"`

/**
 * The versions an `If-Match` header accepts: undefined when any version will do (no header,
 * or `*`), else the versions its strong tags name. Weak tags (`W/"3"`) never match (RFC 9110
 * compares strongly for If-Match), and neither do tags that are not a version: an empty list
 * means nothing matches.
 */
export function versionsMatching(header: string | undefined): number[] | undefined {
  if (header === undefined || header.trim() === '*') return undefined
  const versions: number[] = []
  for (const [, weak, opaque] of header.matchAll(/(W\/)?"([^"]*)"/g)) {
    if (weak || opaque === undefined || !/^[1-9][0-9]{0,9}$/.test(opaque)) continue
    const version = Number(opaque)
    if (version <= MAX_VERSION) versions.push(version)
  }
  return versions
}
