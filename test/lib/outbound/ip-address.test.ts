import t from 'tap'
import { isPublicUnicast } from '../../../lib/outbound/ip-address.js'

const PUBLIC = ['93.184.215.14', '8.8.8.8', '2606:4700:4700::1111', '64:ff9b::808:808']

const NOT_PUBLIC: [string, string][] = [
  ['127.0.0.1', 'loopback'],
  ['127.255.0.1', 'loopback, not only .1'],
  ['10.0.0.1', 'private 10/8'],
  ['172.16.0.1', 'private 172.16/12'],
  ['172.31.255.254', 'private 172.16/12, top'],
  ['192.168.1.1', 'private 192.168/16'],
  ['169.254.169.254', 'link-local (cloud metadata)'],
  ['100.64.0.1', 'carrier-grade NAT'],
  ['0.0.0.0', 'unspecified'],
  ['224.0.0.1', 'multicast'],
  ['255.255.255.255', 'broadcast'],
  ['240.0.0.1', 'reserved'],
  ['192.0.2.1', 'documentation'],
  ['::1', 'IPv6 loopback'],
  ['::', 'IPv6 unspecified'],
  ['fe80::1', 'IPv6 link-local'],
  ['fc00::1', 'unique-local fc00::/7'],
  ['fd12:3456::1', 'unique-local fd'],
  ['ff02::1', 'IPv6 multicast'],
  ['2001:db8::1', 'IPv6 documentation'],
  ['::ffff:127.0.0.1', 'IPv4-mapped loopback'],
  ['::ffff:10.0.0.1', 'IPv4-mapped private'],
  ['::ffff:a9fe:a9fe', 'IPv4-mapped link-local, hex form'],
  ['64:ff9b::a00:1', 'NAT64 of a private address'],
  ['64:ff9b:1::808:808', 'local-use NAT64 prefix'],
  ['2002:a00:1::1', '6to4'],
  ['not-an-address', 'not an address'],
  ['0x7f.1', 'non-canonical IPv4 form'],
]

t.test('public unicast addresses are public', async (t) => {
  for (const address of PUBLIC) t.ok(isPublicUnicast(address), address)
})

t.test('every special-purpose address is not public', async (t) => {
  for (const [address, name] of NOT_PUBLIC) t.notOk(isPublicUnicast(address), `${name}: ${address}`)
})
