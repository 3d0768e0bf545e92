import { Agent } from 'node:http'
import type { Duplex } from 'node:stream'
import { systemConnector, type ConnectOptions, type Connector } from './connector.js'

/**
 * How long an idle connection is kept: below the 5 s Node's own server (and many others) keep
 * one, so the pool drops it before the receiver does, not while a request goes out on it.
 */
export const IDLE_CONNECTION_MS = 4000

/**
 * A keep-alive agent for one checked target: every connection it makes goes to that address,
 * port, TLS server name, through the connector, whatever a request asks.
 */
class PinnedAgent extends Agent {
  constructor(
    private readonly target: ConnectOptions,
    private readonly connect: Connector,
  ) {
    super({ keepAlive: true, timeout: IDLE_CONNECTION_MS })
  }

  override createConnection(): Duplex {
    return this.connect(this.target)
  }
}

/**
 * Connections kept open between posts to the same checked target (one agent per address, port,
 * TLS and server name), so a run of deliveries to one endpoint opens one connection, not one per
 * event. A target that is resolved differently is another key: a connection is never reused for
 * another address. Agents left without connections are dropped.
 */
export class ConnectionPool {
  private readonly agents = new Map<string, PinnedAgent>()

  constructor(private readonly connect: Connector = systemConnector) {}

  agentFor(target: ConnectOptions): Agent {
    const key = JSON.stringify([target.tls, target.host, target.port, target.servername ?? null])
    let agent = this.agents.get(key)
    if (agent === undefined) {
      // A new target is when the pool grows: the agents of targets no longer connected to go.
      this.dropUnused()
      agent = new PinnedAgent({ ...target }, this.connect)
      this.agents.set(key, agent)
    }
    return agent
  }

  /** Closes every connection, idle or not (the end of a delivery run). */
  close(): void {
    for (const agent of this.agents.values()) agent.destroy()
    this.agents.clear()
  }

  private dropUnused(): void {
    for (const [key, agent] of this.agents) {
      const open = [agent.sockets, agent.freeSockets, agent.requests].some(
        (byName) => Object.keys(byName).length > 0,
      )
      if (!open) {
        agent.destroy()
        this.agents.delete(key)
      }
    }
  }
}
