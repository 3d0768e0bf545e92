import { isIP } from 'node:net'
import { isPublicUnicast } from './ip-address.js'
import type { Resolver } from './resolver.js'

export interface OutboundPolicy {
  /** Production: https only, and every address the host resolves to must be public unicast. */
  requirePublicHttps: boolean
  resolve: Resolver
}

/** Why a URL is refused: a short message for a 400 `details` entry or a delivery's error. */
export interface UrlRefusal {
  ok: false
  reason: string
}

/** A URL that passed the policy, and the one checked address the connection must go to. */
export interface PinnedEndpoint {
  ok: true
  url: URL
  /** `url.hostname` without the brackets of an IPv6 literal. */
  host: string
  address: string
}

export const MAX_ENDPOINT_URL_LENGTH = 2048

// Reasons never echo the URL (it may carry a token) nor a resolved address (internal network map).
const refuse = (reason: string): UrlRefusal => ({ ok: false, reason })

/**
 * The registration check. In development it looks nothing up, so a name that does not resolve
 * (yet) can be registered and no test sends a DNS query; in production it resolves the name.
 */
export async function checkEndpointUrl(
  url: string,
  policy: OutboundPolicy,
): Promise<UrlRefusal | undefined> {
  const parsed = parseEndpointUrl(url, policy)
  if (!parsed.ok) return parsed
  if (!policy.requirePublicHttps) return undefined
  const pinned = await pinAddress(parsed.url, policy)
  return pinned.ok ? undefined : pinned
}

/**
 * The send-time check: the same rules again (DNS can change after registration), returning the
 * checked address so the connection goes there without a second lookup (DNS rebinding).
 */
export async function resolveEndpoint(
  url: string,
  policy: OutboundPolicy,
): Promise<PinnedEndpoint | UrlRefusal> {
  const parsed = parseEndpointUrl(url, policy)
  return parsed.ok ? pinAddress(parsed.url, policy) : parsed
}

function parseEndpointUrl(
  url: string,
  policy: OutboundPolicy,
): { ok: true; url: URL } | UrlRefusal {
  if (url.length > MAX_ENDPOINT_URL_LENGTH)
    return refuse(`must be at most ${MAX_ENDPOINT_URL_LENGTH} characters`)
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return refuse('must be an absolute URL')
  }
  if (policy.requirePublicHttps && parsed.protocol !== 'https:') return refuse('must use https')
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:')
    return refuse('must use http or https')
  if (parsed.username !== '' || parsed.password !== '')
    return refuse('must not contain a user name or password')
  return { ok: true, url: parsed }
}

async function pinAddress(url: URL, policy: OutboundPolicy): Promise<PinnedEndpoint | UrlRefusal> {
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1')
  const literal = isIP(host) !== 0
  if (policy.requirePublicHttps && !literal && isLocalhostName(host))
    return refuse('must not point to localhost')
  const addresses = literal ? [host] : await resolveAll(host, policy.resolve)
  const [address] = addresses
  if (address === undefined) return refuse('host name does not resolve')
  if (policy.requirePublicHttps && !addresses.every(isPublicUnicast))
    return refuse(
      literal ? 'must be a public IP address' : 'host name must resolve only to public addresses',
    )
  return { ok: true, url, host, address }
}

/** An empty list when the name does not resolve, or the resolver answers something else. */
async function resolveAll(host: string, resolve: Resolver): Promise<string[]> {
  try {
    const addresses = await resolve(host)
    return addresses.every((address) => isIP(address) !== 0) ? addresses : []
  } catch {
    return []
  }
}

// RFC 6761: localhost and *.localhost are loopback whatever DNS says; a trailing dot is the same name.
function isLocalhostName(host: string): boolean {
  const name = host.toLowerCase().replace(/\.$/, '')
  return name === 'localhost' || name.endsWith('.localhost')
}
