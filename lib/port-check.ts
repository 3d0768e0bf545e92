import { createServer } from 'node:net'

/** The configured address cannot be listened on. */
export class PortUnavailable extends Error {}

/** The variable that chose the port: PORT for the service, PROBE_PORT for its probes. */
export type PortVariable = 'PORT' | 'PROBE_PORT'

function describe(code: string | undefined, host: string, port: number, variable: PortVariable) {
  switch (code) {
    case 'EADDRINUSE':
      return `Port ${port} on ${host} is in use by another process; stop it or set ${variable}`
    case 'EACCES':
      return `Port ${port} on ${host} needs privileges this process does not have; set ${variable} (above 1023)`
    case 'EADDRNOTAVAIL':
      return `HOST ${host} is not an address of this machine; set HOST (127.0.0.1, or 0.0.0.0 for every interface)`
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `HOST ${host} does not resolve to an address; set HOST`
    default:
      return `Cannot listen on ${host} port ${port} (${code ?? 'unknown error'}); set HOST or ${variable}`
  }
}

/** Why listening on host:port failed, in one line naming the variable to change. */
export function portUnavailable(
  code: string | undefined,
  host: string,
  port: number,
  variable: PortVariable = 'PORT',
): PortUnavailable {
  return new PortUnavailable(describe(code, host, port, variable))
}

/**
 * Listens on host:port and closes at once, so a start that could not listen stops before it
 * opens (or migrates) the database. Port 0 (any free port) is always free.
 */
export async function assertPortFree(
  host: string,
  port: number,
  variable: PortVariable = 'PORT',
): Promise<void> {
  if (port === 0) return
  await new Promise<void>((resolve, reject) => {
    const probe = createServer()
    probe.once('error', (error: NodeJS.ErrnoException) =>
      reject(portUnavailable(error.code, host, port, variable)),
    )
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve()))
  })
}
