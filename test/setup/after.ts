/** Runs once after the suite: stops a testcontainers PostgreSQL if the before step started one. */
import { loadChoice } from './test-database.js'

const choice = loadChoice()
if (choice.kind === 'postgres' && choice.containerId) {
  const { getContainerRuntimeClient } = await import('testcontainers')
  const client = await getContainerRuntimeClient()
  const container = client.container.getById(choice.containerId)
  await client.container.stop(container)
  await client.container.remove(container)
  console.log(`# stopped test container ${choice.containerId.slice(0, 12)}`)
}
