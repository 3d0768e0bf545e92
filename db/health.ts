import { sql } from 'kysely'
import type { Executor } from './executor.js'

/** Resolves when the database answers `select 1` within the time given; rejects otherwise. */
export async function databaseAnswers(db: Executor, milliseconds: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timed out')), milliseconds)
  })
  try {
    await Promise.race([sql`select 1`.execute(db), timeout])
  } finally {
    clearTimeout(timer)
  }
}
