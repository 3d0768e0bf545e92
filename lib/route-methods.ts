import FindMyWay from 'find-my-way'

/**
 * The registered paths and the methods each answers, looked up by a concrete URL the way the
 * OpenAPI document reads: the most specific path wins whatever the method, so
 * `/api/customers/5/analytics` belongs to `…/analytics` (GET only), not to `…/:customerId`.
 * Catch-all routes (`*`, the CORS preflight) are left out: they would make every method look
 * allowed on every path.
 */
export interface RouteMethods {
  add(methods: string | string[], url: string): void
  /** The registered path a URL belongs to, if any. */
  pathOf(url: string): string | undefined
  /** The methods of the path a URL belongs to, sorted; empty for an unknown path. */
  allowedFor(url: string): string[]
}

interface PathStore {
  path: string
}

export function createRouteMethods(): RouteMethods {
  // One pseudo-method: the lookup is by path alone.
  const router = FindMyWay({ ignoreTrailingSlash: true })
  const methodsByPath = new Map<string, Set<string>>()
  const noop = (): void => {}
  const pathOf = (url: string): string | undefined => {
    const found = router.find('GET', url.split('?', 1)[0] ?? url)
    return (found?.store as PathStore | undefined)?.path
  }
  return {
    add(methods, url) {
      if (url === '*' || url === '/*') return
      let known = methodsByPath.get(url)
      if (!known) {
        known = new Set()
        methodsByPath.set(url, known)
        router.on('GET', url, noop, { path: url } satisfies PathStore)
      }
      for (const method of [methods].flat()) known.add(method)
    },
    pathOf,
    allowedFor(url) {
      const path = pathOf(url)
      return path === undefined ? [] : [...(methodsByPath.get(path) ?? [])].sort()
    },
  }
}
