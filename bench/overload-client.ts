/**
 * The overload load, in a process of its own so that the measuring process sees only the
 * service: `CONNECTIONS` requests at once to `URL`, each on its own connection. Prints one JSON
 * line: every answer's status, error title, Retry-After and milliseconds from send to answer.
 * Used by the bench's overload scenario and by test/operations/overload.test.ts.
 */
import { Agent, request } from 'node:http'

const [target, connections, authorization] = process.argv.slice(2)
if (!target || !connections || !authorization) {
  throw new Error('usage: URL CONNECTIONS AUTHORIZATION')
}
const url: string = target

const agent = new Agent({ keepAlive: false, maxSockets: Number(connections) })

export interface OverloadAnswer {
  status: number
  error?: string
  retryAfter?: string
  ms: number
}

function get(): Promise<OverloadAnswer> {
  const started = performance.now()
  return new Promise((resolve) => {
    const req = request(url, { agent, headers: { authorization }, timeout: 30_000 }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        let error: string | undefined
        try {
          error = (JSON.parse(text) as { error?: string }).error
        } catch {
          error = 'not JSON'
        }
        const retryAfter = res.headers['retry-after']
        resolve({
          status: res.statusCode ?? 0,
          error,
          retryAfter: typeof retryAfter === 'string' ? retryAfter : undefined,
          ms: performance.now() - started,
        })
      })
    })
    req.on('timeout', () => req.destroy(new Error('no answer in 30 s')))
    req.on('error', (error) =>
      resolve({ status: 0, error: error.message, ms: performance.now() - started }),
    )
    req.end()
  })
}

const answers = await Promise.all(Array.from({ length: Number(connections) }, get))
agent.destroy()
process.stdout.write(`${JSON.stringify(answers)}\n`)
