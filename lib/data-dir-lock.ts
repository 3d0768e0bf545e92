import { mkdirSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import lockfile from 'proper-lockfile'

/**
 * A lock not refreshed for this long belongs to a process that is gone (killed, crashed). The
 * holder refreshes it every few seconds; the margin covers the event loop being busy for a long
 * while (the first start's initdb blocks it for several seconds on a slow machine).
 */
export const STALE_LOCK_MS = 30_000

/** Another live process holds the embedded database. */
export class DataDirectoryInUse extends Error {}

/** The lock beside the embedded database folder: `DATA_DIR/pgdata.lock`. */
export const lockPathOf = (databasePath: string): string => `${resolve(databasePath)}.lock`

const lockOptions = (databasePath: string) => ({
  realpath: false,
  stale: STALE_LOCK_MS,
  lockfilePath: lockPathOf(databasePath),
})

function inUse(databasePath: string): DataDirectoryInUse {
  const dataDir = dirname(resolve(databasePath))
  return new DataDirectoryInUse(
    `Another PayMe Customers process holds ${dataDir} (lock ${lockPathOf(databasePath)}, freed when it stops or ${STALE_LOCK_MS / 1000} s after it crashed); stop it or set DATA_DIR`,
  )
}

/** Throws DataDirectoryInUse when a live process holds the lock; takes nothing, writes nothing. */
export async function assertDataDirectoryFree(databasePath: string): Promise<void> {
  if (await lockfile.check(databasePath, lockOptions(databasePath))) throw inUse(databasePath)
}

/**
 * Another process took the lock while this one could not refresh it (the event loop was stuck
 * past STALE_LOCK_MS): two processes now share the folder, so this one stops.
 */
function stopOnLostLock(databasePath: string): void {
  console.error(
    `Lost the lock on ${dirname(resolve(databasePath))} (${lockPathOf(databasePath)}); stopping`,
  )
  process.exitCode = 1
  process.kill(process.pid, 'SIGTERM')
}

/**
 * Takes the embedded database's lock before PGlite opens the folder (PGlite takes none, and two
 * processes on one folder corrupt it). Throws DataDirectoryInUse when a live process holds it.
 * Resolves to the release; a process that exits without releasing leaves a lock that goes stale.
 */
export async function lockDataDirectory(databasePath: string): Promise<() => Promise<void>> {
  mkdirSync(dirname(resolve(databasePath)), { recursive: true })
  let release: () => Promise<void>
  try {
    release = await lockfile.lock(databasePath, {
      ...lockOptions(databasePath),
      onCompromised: () => stopOnLostLock(databasePath),
    })
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ELOCKED') throw inUse(databasePath)
    throw error
  }
  return async () => {
    try {
      await release()
    } catch (error) {
      // Already released (or lost): nothing left to free.
      if ((error as NodeJS.ErrnoException).code !== 'ERELEASED') throw error
    }
  }
}
