import type { Connector } from './connector.js'
import type { OutboundPolicy } from './endpoint-url.js'
import { systemResolver, type Resolver } from './resolver.js'

/** What sending to a registered URL needs: the URL policy, and the connection function. */
export interface Outbound {
  policy: OutboundPolicy
  /** Unset: node:net / node:tls (systemConnector). Tests inject one that reaches only 127.0.0.1. */
  connect?: Connector
}

/** Tests (and tools) replace the resolver and the connector; nothing else is configurable. */
export interface OutboundOverrides {
  resolve?: Resolver
  connect?: Connector
}

/** Production refuses URLs that are not https to public addresses; other environments do not. */
export function outboundFor(
  environment: 'development' | 'production' | 'test',
  overrides: OutboundOverrides = {},
): Outbound {
  return {
    policy: {
      requirePublicHttps: environment === 'production',
      resolve: overrides.resolve ?? systemResolver,
    },
    connect: overrides.connect,
  }
}
