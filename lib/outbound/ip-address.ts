import { isIP } from 'node:net'
import ipaddr from 'ipaddr.js'

// ipaddr.js (what Express's proxy-addr uses) keeps the IANA special-purpose ranges and unwraps
// IPv4-mapped IPv6, so this service does not maintain its own table of reserved networks.
const NAT64 = ipaddr.IPv6.parse('64:ff9b::')

/**
 * True only for a globally routable unicast address: everything else (loopback, private,
 * link-local, unique-local, carrier-grade NAT, multicast, broadcast, reserved, documentation,
 * 6to4, Teredo, IPv4-mapped forms of any of them) is refused in production.
 */
export function isPublicUnicast(address: string): boolean {
  if (isIP(address) === 0) return false
  const parsed = ipaddr.process(address)
  // The well-known NAT64 prefix reaches the IPv4 address in its last 32 bits (DNS64 networks).
  if (parsed.kind() === 'ipv6' && parsed.match(NAT64, 96)) {
    const embedded = new ipaddr.IPv4(parsed.toByteArray().slice(12))
    return embedded.range() === 'unicast'
  }
  return parsed.range() === 'unicast'
}
