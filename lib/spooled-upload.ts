import { createHash } from 'node:crypto'
import { once } from 'node:events'
import { createReadStream, createWriteStream } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { Transform } from 'node:stream'

/**
 * An uploaded file, written to a temporary file as it arrived: its SHA-256 is known before
 * anything is done with it (what an Idempotency-Key's fingerprint needs), and memory held one
 * chunk of it at a time. JSON shows only the digest and the size, so the request fingerprint
 * (lib/request-fingerprint.ts) compares uploads by their bytes, wherever they were spooled.
 */
export class SpooledUpload {
  constructor(
    readonly path: string,
    readonly sha256: string,
    readonly bytes: number,
  ) {}

  /** The file again, from its first byte. */
  open(): Readable {
    return createReadStream(this.path)
  }

  /** Removes the temporary file (and its directory); safe to call twice. */
  async discard(): Promise<void> {
    await rm(join(this.path, '..'), { recursive: true, force: true })
  }

  toJSON(): { sha256: string; bytes: number } {
    return { sha256: this.sha256, bytes: this.bytes }
  }
}

/** Why an upload was refused while it was spooled. */
export class UploadRefused extends Error {
  constructor(readonly reason: 'too_large' | 'not_utf8') {
    super(reason === 'too_large' ? 'the upload is too large' : 'the upload is not UTF-8 text')
    this.name = 'UploadRefused'
  }
}

/**
 * Copies `source` to a new temporary file, hashing it and checking that it is UTF-8 text of at
 * most `maxBytes` bytes; a refused or failed upload leaves no file behind.
 */
export async function spoolUpload(source: Readable, maxBytes: number): Promise<SpooledUpload> {
  const directory = await mkdtemp(join(tmpdir(), 'payme-upload-'))
  const path = join(directory, 'upload')
  const hash = createHash('sha256')
  // fatal: a byte sequence that is not UTF-8 is an error, not a silent U+FFFD.
  const decoder = new TextDecoder('utf-8', { fatal: true })
  let bytes = 0
  const check = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      bytes += chunk.length
      if (bytes > maxBytes) return done(new UploadRefused('too_large'))
      try {
        decoder.decode(chunk, { stream: true })
      } catch {
        return done(new UploadRefused('not_utf8'))
      }
      hash.update(chunk)
      done(null, chunk)
    },
    flush(done) {
      try {
        decoder.decode()
      } catch {
        return done(new UploadRefused('not_utf8'))
      }
      done()
    },
  })
  try {
    await Promise.race([
      pipeline(source, check, createWriteStream(path)),
      // A refusal settles at once: on Node 24 the pipeline also waits for the source to close,
      // and a source that ignores destroy() once it has pushed everything (light-my-request's,
      // under app.inject) never does.
      once(check, 'error').then(([error]: unknown[]) => Promise.reject(error)),
    ])
  } catch (error) {
    await rm(directory, { recursive: true, force: true })
    throw error
  }
  return new SpooledUpload(path, hash.digest('hex'), bytes)
}
