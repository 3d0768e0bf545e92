import type { Executor } from '../db/executor.js'
import { databaseAnswers } from '../db/health.js'

/** Whether the database answers within `milliseconds` (readiness). */
export async function databaseIsReachable(db: Executor, milliseconds: number): Promise<boolean> {
  try {
    await databaseAnswers(db, milliseconds)
    return true
  } catch {
    return false
  }
}
