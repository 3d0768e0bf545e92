/**
 * Stand-ins for DNS and the network. Every connector here refuses (and fails the test) when asked
 * for an address other than the one expected, and only ever opens sockets to 127.0.0.1, so a
 * broken check can never send traffic anywhere else.
 */
import { connect as netConnect } from 'node:net'
import type { Duplex } from 'node:stream'
import type { Test } from 'tap'
import type { ConnectOptions, Connector } from '../../../lib/outbound/connector.js'
import type { Resolver } from '../../../lib/outbound/resolver.js'

export const PUBLIC_ADDRESS = '93.184.215.14'

/**
 * Names → successive answers (the last one repeats); other names do not resolve. `calls` lists
 * every name asked for.
 */
export function stubResolver(answers: Record<string, string[][]>): Resolver & { calls: string[] } {
  const calls: string[] = []
  const resolver = async (hostname: string): Promise<string[]> => {
    const asked = calls.filter((name) => name === hostname).length
    calls.push(hostname)
    const sequence = answers[hostname]
    const answer = sequence?.[Math.min(asked, sequence.length - 1)]
    if (answer === undefined)
      throw Object.assign(new Error(`stub: ${hostname} does not resolve`), { code: 'ENOTFOUND' })
    return answer
  }
  return Object.assign(resolver, { calls })
}

/** The usual names: private, public, and public at registration then private (rebinding). */
export const namesResolver = (): Resolver & { calls: string[] } =>
  stubResolver({
    'internal.example': [['10.1.2.3']],
    'public.example': [[PUBLIC_ADDRESS]],
    'mixed.example': [[PUBLIC_ADDRESS, '192.168.1.1']],
    'rebind.example': [[PUBLIC_ADDRESS], ['10.0.0.5']],
  })

/** A connector that must never be called: the URL should have been refused before. */
export function refusingConnector(t: Test): Connector {
  return (options) => {
    t.fail(`connector called for ${options.host}:${options.port}`)
    throw new Error('refusing connector called')
  }
}

/**
 * Accepts only `expected` (host, and whatever else is given) and then connects to 127.0.0.1
 * `localPort` through `open` (plain TCP unless told). `calls` lists what it was asked for.
 */
export function guardedConnector(
  t: Test,
  expected: Partial<ConnectOptions> & { host: string },
  localPort: number,
  open: (port: number, options: ConnectOptions) => Duplex = (port) =>
    netConnect({ host: '127.0.0.1', port }),
): Connector & { calls: ConnectOptions[] } {
  const calls: ConnectOptions[] = []
  const connector = (options: ConnectOptions): Duplex => {
    calls.push(options)
    for (const [key, value] of Object.entries(expected)) {
      if (options[key as keyof ConnectOptions] !== value) {
        t.fail(`connector asked for ${key}=${String(options[key as keyof ConnectOptions])}`)
        throw new Error('guarded connector: unexpected target')
      }
    }
    return open(localPort, options)
  }
  return Object.assign(connector, { calls })
}

/**
 * What tests that run deliveries give the service: plain TCP to 127.0.0.1, whatever port the
 * URL names; anything else fails the test and throws before a connection is opened.
 */
export function loopbackOnly(t: Test): Connector {
  return ({ host, port, tls }) => {
    if (host !== '127.0.0.1' || tls) {
      t.fail(`a delivery tried ${host}:${port}`)
      throw new Error('only 127.0.0.1 is reachable in tests')
    }
    return netConnect({ host, port })
  }
}

/**
 * For tests of kept connections: any 127.0.0.x address asked for (plain TCP) reaches the local
 * server on `localPort`, so a test can tell connections to two addresses apart without leaving
 * 127.0.0.1; anything else fails the test. `calls` lists what it was asked for.
 */
export function loopbackAliases(
  t: Test,
  localPort: number,
): Connector & { calls: ConnectOptions[] } {
  const calls: ConnectOptions[] = []
  const connector = (options: ConnectOptions): Duplex => {
    calls.push(options)
    if (!options.host.startsWith('127.0.0.') || options.tls) {
      t.fail(`connector asked for ${options.host}:${options.port}`)
      throw new Error('loopback aliases only')
    }
    return netConnect({ host: '127.0.0.1', port: localPort })
  }
  return Object.assign(connector, { calls })
}
