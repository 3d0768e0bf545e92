/**
 * How many cases a fuzz or property test runs: its full size in CI (`CI=true`, as .ci/run
 * sets), fewer in a plain `npm test`; an explicit environment variable wins either way.
 * The seed is printed with the count, so any run can be replayed exactly.
 */
export function runsFromEnvironment(
  variable: string,
  sizes: { ci: number; local: number },
): number {
  const text = process.env[variable]
  if (text !== undefined && text !== '') {
    if (!/^\d+$/.test(text)) throw new Error(`${variable} must be a whole number, not ${text}`)
    return Number(text)
  }
  return process.env.CI === 'true' ? sizes.ci : sizes.local
}
