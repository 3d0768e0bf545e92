/**
 * Runs once after the suite: drops the template (a database, or PGlite's temporary folder), or
 * stops the container the before step started; then fails the run if a statement of the service
 * did not pin business_id (statement-check.ts).
 */
import { rmSync } from 'node:fs'
import pg from 'pg'
import { checkCapturedStatements } from './statement-check.js'
import { forgetChoice, loadChoice } from './test-database.js'

const choice = loadChoice()
if (choice.kind === 'embedded' && choice.template) {
  rmSync(choice.template.folder, { recursive: true, force: true })
}
if (choice.kind === 'postgres' && !choice.containerId) {
  const admin = new pg.Client({ connectionString: choice.adminUrl })
  await admin.connect()
  await admin.query(`drop database if exists ${choice.template} with (force)`)
  await admin.end()
}
if (choice.kind === 'postgres' && choice.containerId) {
  const { getContainerRuntimeClient } = await import('testcontainers')
  const client = await getContainerRuntimeClient()
  const container = client.container.getById(choice.containerId)
  await client.container.stop(container)
  await client.container.remove(container)
  console.log(`# stopped test container ${choice.containerId.slice(0, 12)}`)
}
forgetChoice()
await checkCapturedStatements()
