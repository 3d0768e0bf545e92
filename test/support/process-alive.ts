/** Whether a process with this id still runs: what left over test state is judged by. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}
