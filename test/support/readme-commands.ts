/** A command of the README, as a reader would paste it, with the comment above it. */
export interface ReadmeStep {
  section: string
  /** The comment lines just above the command, or the command itself when there are none. */
  label: string
  command: string
}

/** The body of the `## heading` section of a markdown document. */
function section(markdown: string, heading: string): string {
  const start = markdown.indexOf(`\n## ${heading}\n`)
  if (start < 0) throw new Error(`the README has no "## ${heading}" section`)
  const end = markdown.indexOf('\n## ', start + 1)
  return markdown.slice(start, end < 0 ? undefined : end)
}

/**
 * The commands of the ```sh blocks of a section, in order. A comment line labels the commands
 * after it until the next blank line; a trailing backslash continues a command on the next line.
 */
export function readmeSteps(markdown: string, heading: string): ReadmeStep[] {
  const steps: ReadmeStep[] = []
  for (const block of section(markdown, heading).matchAll(/^```sh\n([\s\S]*?)^```$/gm)) {
    let comments: string[] = []
    let pending = ''
    for (const line of block[1]!.split('\n')) {
      if (pending === '' && line.trim() === '') comments = []
      else if (pending === '' && line.trimStart().startsWith('#')) {
        comments.push(line.trim().replace(/^#\s*/, ''))
      } else if (line.endsWith('\\')) pending += `${line}\n`
      else {
        const command = pending + line
        pending = ''
        steps.push({
          section: heading,
          label: comments.length > 0 ? comments.join(' ') : command.trim(),
          command,
        })
      }
    }
    if (pending !== '') throw new Error(`${heading}: a command ends with a backslash`)
  }
  return steps
}
