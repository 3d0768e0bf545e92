import { lookup } from 'node:dns/promises'

/** Every address a host name resolves to, IPv4 and IPv6; rejects when it does not resolve. */
export type Resolver = (hostname: string) => Promise<string[]>

/** The system's resolver (getaddrinfo); tests inject a stub instead, so they never look names up. */
export const systemResolver: Resolver = async (hostname) =>
  (await lookup(hostname, { all: true })).map((entry) => entry.address)
