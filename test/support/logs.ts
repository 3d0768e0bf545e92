import { Writable } from 'node:stream'

/** A stream to hand to `serverOptions({ stream })`, and the log text written to it so far. */
export function captureLogs(): { stream: Writable; text: () => string; lines: () => string[] } {
  let output = ''
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      output += chunk.toString('utf8')
      done()
    },
  })
  return {
    stream,
    text: () => output,
    lines: () => output.split('\n').filter((line) => line !== ''),
  }
}
