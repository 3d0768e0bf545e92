import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Test } from 'tap'
import { runServer } from '../operations/server-process.js'

export interface FreshService {
  /** `http://127.0.0.1:<port>` */
  url: string
  port: number
  dataDir: string
  output: { stdout: string; stderr: string }
}

/** A port nothing listens on right now, on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const probe = createServer()
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
  const address = probe.address()
  await new Promise((resolve) => probe.close(resolve))
  if (address === null || typeof address === 'string') throw new Error('no port from the probe')
  return address.port
}

/**
 * The service as `npm start` runs it, from an empty DATA_DIR on a port of its own (so nothing
 * depends on the banner's wording): ready once /health answers. `env` adds to the start
 * environment (DATABASE_URL, SALES_WEBHOOK_SECRET...). Stopped with SIGTERM, and its DATA_DIR
 * removed, when `t` ends.
 */
export async function startFreshService(
  t: Test,
  env: Record<string, string> = {},
): Promise<FreshService> {
  const dataDir = mkdtempSync(join(tmpdir(), 'payme-fresh-'))
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const server = runServer({ DATA_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1', ...env })
  t.teardown(async () => {
    if (server.child.exitCode === null && server.child.signalCode === null) {
      server.child.kill('SIGTERM')
      await server.exited
    }
    rmSync(dataDir, { recursive: true, force: true })
  })
  // A first start runs initdb and every migration: allow a slow, shared machine its time.
  for (const started = Date.now(); Date.now() - started < 120_000; await sleep(200)) {
    if (server.child.exitCode !== null) break
    const healthy = await fetch(`${url}/health`).then(
      (response) => response.ok,
      () => false,
    )
    if (healthy) return { url, port, dataDir, output: server.output }
  }
  throw new Error(
    `the service did not start on ${url}:\n${server.output.stdout}\n${server.output.stderr}`,
  )
}
