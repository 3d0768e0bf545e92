/**
 * The overload test's load, in a process of its own so that the test process measures only the
 * service: `CONNECTIONS` requests at once to `URL`, each on its own connection. Prints one JSON
 * line: every answer's status, error title and Retry-After.
 */
import { Agent, request } from 'node:http'

const [url, connections, authorization] = process.argv.slice(2)
if (!url || !connections || !authorization) throw new Error('usage: URL CONNECTIONS AUTHORIZATION')

const agent = new Agent({ keepAlive: false, maxSockets: Number(connections) })

interface Answer {
  status: number
  error?: string
  retryAfter?: string
}

function get(): Promise<Answer> {
  return new Promise((resolve) => {
    const req = request(url!, { agent, headers: { authorization }, timeout: 30_000 }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { error?: string }
        const retryAfter = res.headers['retry-after']
        resolve({
          status: res.statusCode ?? 0,
          error: body.error,
          retryAfter: typeof retryAfter === 'string' ? retryAfter : undefined,
        })
      })
    })
    req.on('timeout', () => req.destroy(new Error('no answer in 30 s')))
    req.on('error', (error) => resolve({ status: 0, error: error.message }))
    req.end()
  })
}

const answers = await Promise.all(Array.from({ length: Number(connections) }, get))
agent.destroy()
process.stdout.write(`${JSON.stringify(answers)}\n`)
