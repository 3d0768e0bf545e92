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
  /**
   * For a request routed to `routed` with these path parameters: the methods of the more specific
   * path its URL belongs to, when there is one (`DELETE …/analytics` routed to `…/:customerId`
   * with `customerId: 'analytics'`); otherwise undefined. Compares parameters, no lookup.
   */
  shadowedBy(routed: string, params: unknown): string[] | undefined
  /** The methods of the path a URL belongs to, sorted; empty for an unknown path. */
  allowedFor(url: string): string[]
}

interface PathStore {
  path: string
}

interface Shadow {
  path: string
  /** The parameter values (name, value) under which a URL belongs to `path` instead. */
  values: (readonly [string, string])[]
}

const segmentsOf = (path: string): string[] => path.replace(/\/$/, '').split('/')
const isParameter = (segment: string): boolean => segment.startsWith(':')

/** Whether some URL matching `general` (it has parameters) matches `specific` too. */
function overlaps(general: string[], specific: string[]): boolean {
  return (
    general.length === specific.length &&
    general.every((segment, i) => isParameter(segment) || segment === specific[i]) &&
    general.some((segment, i) => isParameter(segment) && !isParameter(specific[i] ?? ':'))
  )
}

export function createRouteMethods(): RouteMethods {
  // One pseudo-method: the lookup is by path alone.
  const router = FindMyWay({ ignoreTrailingSlash: true })
  const methodsByPath = new Map<string, Set<string>>()
  /** Per path with parameters: the more specific paths overlapping it, as parameter values. */
  let shadows: Map<string, Shadow[]> | undefined
  const noop = (): void => {}
  const pathOf = (url: string): string | undefined => {
    const found = router.find('GET', url.split('?', 1)[0] ?? url)
    return (found?.store as PathStore | undefined)?.path
  }
  const allowedFor = (url: string): string[] => {
    const path = pathOf(url)
    return path === undefined ? [] : [...(methodsByPath.get(path) ?? [])].sort()
  }
  const shadowsOf = (): Map<string, Shadow[]> => {
    const paths = [...methodsByPath.keys()].map((path) => [path, segmentsOf(path)] as const)
    const found = new Map<string, Shadow[]>()
    for (const [path, general] of paths) {
      const overlapping = paths
        .filter(([, specific]) => overlaps(general, specific))
        .map(([specificPath, specific]): Shadow => ({
          path: specificPath,
          values: general.flatMap((segment, i) =>
            isParameter(segment) && !isParameter(specific[i] ?? ':')
              ? [[segment.slice(1), specific[i] ?? ''] as const]
              : [],
          ),
        }))
      if (overlapping.length > 0) found.set(path, overlapping)
    }
    return found
  }
  return {
    add(methods, url) {
      if (url === '*' || url === '/*') return
      shadows = undefined
      let known = methodsByPath.get(url)
      if (!known) {
        known = new Set()
        methodsByPath.set(url, known)
        router.on('GET', url, noop, { path: url } satisfies PathStore)
      }
      for (const method of [methods].flat()) known.add(method)
    },
    shadowedBy(routed, params) {
      shadows ??= shadowsOf()
      const candidates = shadows.get(routed)
      if (candidates === undefined) return undefined
      const given = params as Record<string, string | undefined>
      const shadow = candidates.find(({ values }) =>
        values.every(([name, value]) => given[name] === value),
      )
      return shadow && [...(methodsByPath.get(shadow.path) ?? [])].sort()
    },
    allowedFor,
  }
}
