import { connect as netConnect } from 'node:net'
import type { Duplex } from 'node:stream'
import { connect as tlsConnect } from 'node:tls'

export interface ConnectOptions {
  /** The checked IP address; never a host name, so nothing is looked up again. */
  host: string
  port: number
  /** TLS SNI and the name the certificate is verified against; absent for an IP literal URL. */
  servername?: string
  tls: boolean
}

/** Opens the connection for one request; tests inject one that only ever reaches 127.0.0.1. */
export type Connector = (options: ConnectOptions) => Duplex

export const systemConnector: Connector = ({ host, port, servername, tls }) =>
  tls
    ? tlsConnect({ host, port, servername, ALPNProtocols: ['http/1.1'] })
    : netConnect({ host, port })
