import { createReadStream, createWriteStream } from 'node:fs'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { ensureBusiness } from '../../db/businesses.js'
import { connectDatabase, databaseTargetOf } from '../../db/connect.js'
import { createJobQueue } from '../../db/job-queue.js'
import { migrateToLatest } from '../../db/migrate.js'
import type { Import } from '../../generated/schemas/Import.js'
import { JOBS } from '../../jobs/index.js'
import type { Config } from '../../lib/config.js'
import { DataDirectoryInUse } from '../../lib/data-dir-lock.js'
import { DomainError } from '../../lib/domain-errors.js'
import { runImport } from '../../services/import-batches.js'
import { getImport, importErrorsCsv, startImport } from '../../services/imports.js'
import { ImportFailure, type Finished } from './outcome.js'

export interface LocalImport {
  businessId: number
  /** Who the notes of the file are by (a token's `sub` over HTTP). */
  userSub: number
  file: string
  mode: 'create' | 'upsert'
  dryRun: boolean
  errorsTo?: string
}

const PROGRESS_MS = 250

/** The queue's own lines: only what went wrong, on stderr. */
const queueLog = {
  info: () => undefined,
  warn: (object: object, message: string) => console.error(message, object),
  error: (object: object, message: string) => console.error(message, object),
}

/**
 * The import without a server: the file staged and queued by the service function the API
 * calls, then its job run here, on DATABASE_URL or the embedded database in DATA_DIR. The job
 * stays queued for the workers too; one that picks it up finds the import finished (or, after
 * an interruption, resumes it).
 */
export async function importLocally(
  config: Config,
  options: LocalImport,
  show: (current: Import) => void,
  signal: AbortSignal,
): Promise<Finished> {
  let connection
  try {
    connection = await connectDatabase(databaseTargetOf(config))
  } catch (error) {
    if (!(error instanceof DataDirectoryInUse)) throw error
    throw new ImportFailure(
      `${error.message}: the service is running on it, so import through it (leave out --local)`,
    )
  }
  const { db } = connection
  const queue = createJobQueue(connection, JOBS, { workers: false, log: queueLog })
  try {
    await migrateToLatest(db)
    await queue.start()
    await ensureBusiness(db, options.businessId)
    let queued: Import
    try {
      queued = await startImport(
        db,
        options.businessId,
        { mode: options.mode, dryRun: options.dryRun, userSub: options.userSub },
        createReadStream(options.file),
      )
    } catch (error) {
      if (error instanceof DomainError)
        throw new ImportFailure(`the file was refused: ${error.message}`)
      throw error
    }
    show(queued)
    const read = () => getImport(db, options.businessId, queued.id)
    let running = true
    const reporting = (async () => {
      while (running) {
        await new Promise((resolve) => setTimeout(resolve, PROGRESS_MS))
        if (running) show(await read())
      }
    })()
    try {
      await runImport(db, options.businessId, queued.id, signal)
    } finally {
      running = false
      await reporting
    }
    const done = await read()
    show(done)
    const errorReport = `GET /api/customers/${options.businessId}/imports/${done.id}/errors on the service, or --errors <file> here`
    if (options.errorsTo) {
      const chunks = await importErrorsCsv(db, options.businessId, done.id)
      await pipeline(Readable.from(chunks), createWriteStream(options.errorsTo))
    }
    return { import: done, errorReport, ...(options.errorsTo ? { savedTo: options.errorsTo } : {}) }
  } finally {
    await queue.stop(1000)
    await connection.close()
  }
}
