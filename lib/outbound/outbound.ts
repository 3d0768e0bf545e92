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

/** Outcomes of one delivery attempt, as the metrics count them. */
export type DeliveryOutcome = 'delivered' | 'failed' | 'given_up'

/** What the webhook delivery job needs from the process that runs it. */
export interface DeliverySettings {
  outbound: Outbound
  /** The first retry's delay; each next one twice as long, up to an hour. */
  retryBaseMs: number
  /** After failing this long, an event is given up and the endpoint goes on (72 hours). */
  giveUpAfterMs?: number
  timeoutMs?: number
  /** Counts each attempt and, for deliveries, the seconds since the event's transaction began. */
  observe?: (outcome: DeliveryOutcome, lagSeconds: number) => void
  /** A round that failed (the loop goes on a second later): for the log. */
  onError?: (error: unknown) => void
}
