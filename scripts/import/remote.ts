import { createReadStream, createWriteStream } from 'node:fs'
import { request as httpRequest, type IncomingMessage } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { ReadableStream as WebReadableStream } from 'node:stream/web'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Import } from '../../generated/schemas/Import.js'
import { ImportFailure, type Finished } from './outcome.js'

export interface RemoteImport {
  /** Where the service listens (an origin). */
  url: string
  token: string
  businessId: number
  file: string
  fileBytes: number
  mode: 'create' | 'upsert'
  dryRun: boolean
  idempotencyKey?: string
  /** Where to save the rejected rows' problems. */
  errorsTo?: string
  /** Stops following the import (it goes on in the service). */
  signal?: AbortSignal
}

const POLL_MS = 500
/** The service may restart under an import (it resumes there): polling keeps trying this long. */
const UNREACHABLE_MS = 60_000

/** What an answer other than 2xx means, in one line, with a hint for the usual causes. */
async function refusal(status: number, text: string, businessId: number): Promise<ImportFailure> {
  let reason = text.trim().slice(0, 500)
  try {
    const body = JSON.parse(text) as {
      error?: string
      message?: string
      details?: { path: string; message: string }[]
    }
    const details = (body.details ?? []).map((detail) => `${detail.path} ${detail.message}`)
    reason = [body.message ?? body.error, ...details].filter(Boolean).join('; ')
  } catch {
    // not JSON: the text as it came
  }
  const hint =
    status === 401
      ? ' (pass a token the service accepts: --token or TOKEN, or run the service with this JWT_SECRET or DATA_DIR)'
      : status === 403
        ? ` (the token does not grant business ${businessId})`
        : ''
  return new ImportFailure(`the service answered ${status}: ${reason}${hint}`)
}

function unreachable(url: string, error: unknown): ImportFailure {
  const cause = (error as Error & { cause?: { code?: string } }).cause
  const code = (error as { code?: string }).code ?? cause?.code ?? (error as Error).message
  return new ImportFailure(`could not reach ${url} (${code}): is the service running (npm start)?`)
}

/** POSTs the file as it is read from disk (never whole in memory) and reads the answer. */
function upload(
  target: URL,
  headers: Record<string, string>,
  file: string,
): Promise<{ status: number; text: string }> {
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest
  return new Promise((resolve, reject) => {
    let answered = false
    const outgoing = send(target, { method: 'POST', headers }, (response: IncomingMessage) => {
      answered = true
      const chunks: Buffer[] = []
      response.on('data', (chunk: Buffer) => chunks.push(chunk))
      response.on('end', () =>
        resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
      )
      response.on('error', reject)
    })
    // A service that refuses the file early closes the connection while it is still being sent.
    const failed = (error: unknown) => {
      if (!answered) reject(error)
    }
    outgoing.on('error', failed)
    pipeline(createReadStream(file), outgoing).catch(failed)
  })
}

async function get(url: string, token: string): Promise<Response> {
  return fetch(url, { headers: { authorization: `Bearer ${token}` } })
}

/** The import, read every half second (shown by `show`) until it has succeeded or failed. */
async function follow(
  url: string,
  options: RemoteImport,
  show: (current: Import) => void,
): Promise<Import> {
  let failingSince: number | undefined
  /** Unreachable, overloaded or restarting: the import goes on there, so ask again for a while. */
  const tolerate = (problem: () => string) => {
    failingSince ??= Date.now()
    if (Date.now() - failingSince > UNREACHABLE_MS) {
      throw new ImportFailure(`${problem()}; the import may go on there: GET ${url}`)
    }
  }
  for (;;) {
    await sleep(POLL_MS, undefined, { signal: options.signal })
    let response: Response
    try {
      response = await get(url, options.token)
    } catch (error) {
      tolerate(() => unreachable(url, error).message)
      continue
    }
    if (response.status >= 500) {
      await response.body?.cancel()
      tolerate(() => `the service answered ${response.status} for ${UNREACHABLE_MS / 1000} s`)
      continue
    }
    if (!response.ok) {
      throw await refusal(response.status, await response.text(), options.businessId)
    }
    failingSince = undefined
    const current = ((await response.json()) as { import: Import }).import
    show(current)
    if (current.status === 'succeeded' || current.status === 'failed') return current
  }
}

async function saveErrors(url: string, options: RemoteImport, path: string): Promise<void> {
  const response = await get(url, options.token)
  if (!response.ok || !response.body) {
    throw await refusal(response.status, await response.text(), options.businessId)
  }
  await pipeline(
    Readable.fromWeb(response.body as WebReadableStream<Uint8Array>),
    createWriteStream(path),
  )
}

/**
 * `POST /imports` with the file, then the import followed to its end. `started` receives the
 * import's URL as soon as the service has queued it.
 */
export async function importOverHttp(
  options: RemoteImport,
  show: (current: Import) => void,
  started: (importUrl: string) => void,
): Promise<Finished> {
  const base = `${options.url}/api/customers/${options.businessId}/imports`
  const query = new URLSearchParams({ mode: options.mode })
  if (options.dryRun) query.set('dry_run', 'true')
  const headers: Record<string, string> = {
    authorization: `Bearer ${options.token}`,
    'content-type': 'text/csv',
    'content-length': String(options.fileBytes),
  }
  if (options.idempotencyKey) headers['idempotency-key'] = options.idempotencyKey
  let answer: { status: number; text: string }
  try {
    answer = await upload(new URL(`${base}?${query}`), headers, options.file)
  } catch (error) {
    throw unreachable(options.url, error)
  }
  if (answer.status !== 202) throw await refusal(answer.status, answer.text, options.businessId)
  const queued = (JSON.parse(answer.text) as { import: Import }).import
  const importUrl = `${base}/${queued.id}`
  started(importUrl)
  show(queued)
  const done =
    queued.status === 'succeeded' || queued.status === 'failed'
      ? queued
      : await follow(importUrl, options, show)
  const errorReport = `${importUrl}/errors`
  if (options.errorsTo) await saveErrors(errorReport, options, options.errorsTo)
  return { import: done, errorReport, ...(options.errorsTo ? { savedTo: options.errorsTo } : {}) }
}
