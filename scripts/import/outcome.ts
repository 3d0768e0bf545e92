import { Presets, SingleBar } from 'cli-progress'
import type { Import } from '../../generated/schemas/Import.js'

/** Why the import could not be done, in one line for the user (exit code 1). */
export class ImportFailure extends Error {}

/** How the command ends (2 is every script's wrong command line, scripts/cli.ts). */
export const EXIT = { succeeded: 0, failed: 1, rowsRejected: 3 } as const

export interface Finished {
  import: Import
  /** Where the rejected rows' problems can be read. */
  errorReport: string
  /** The file the problems were saved to (--errors). */
  savedTo?: string
}

export interface Progress {
  show(current: Import): void
  stop(): void
}

/** processed/rows of the import on stderr; without a terminal, a line every 10 s. */
export function progressBar(): Progress {
  const bar = new SingleBar(
    {
      format: ' {bar} {percentage}% | {value}/{total} rows | {status} | {duration_formatted}',
      noTTYOutput: true,
      notTTYSchedule: 10_000,
    },
    Presets.shades_classic,
  )
  let started = false
  return {
    show(current) {
      if (!started) bar.start(current.rows, current.processed, { status: current.status })
      else bar.update(current.processed, { status: current.status })
      started = true
    },
    stop() {
      if (started) bar.stop()
      started = false
    },
  }
}

const seconds = (from: string | null, to: string | null): string =>
  from && to ? `${((Date.parse(to) - Date.parse(from)) / 1000).toFixed(1)} s` : '-'

/** The summary lines (stdout) of a finished import. */
export function summary(finished: Finished, elapsedSeconds: number): string {
  const { import: done, errorReport, savedTo } = finished
  const what = done.dry_run ? `dry run ${done.id} (nothing written)` : `import ${done.id}`
  const lines = [
    `${what} ${done.status}: ${done.rows} rows, ${done.processed} processed — created ${done.created}, updated ${done.updated}, skipped ${done.skipped}, rejected ${done.failed_rows}`,
    `${elapsedSeconds.toFixed(1)} s in all; the job ${seconds(done.started_at, done.finished_at)}`,
  ]
  if (done.failed_rows > 0) lines.push(`rejected rows and why: ${errorReport}`)
  if (savedTo) lines.push(`saved to ${savedTo}`)
  return `${lines.join('\n')}\n`
}

export function exitCodeOf(done: Import): number {
  if (done.status !== 'succeeded') return EXIT.failed
  return done.failed_rows > 0 ? EXIT.rowsRejected : EXIT.succeeded
}
