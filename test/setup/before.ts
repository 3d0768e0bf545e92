/**
 * Runs once before the suite (tap's `before`): picks the database and, on PostgreSQL, builds a
 * migrated template from which every test file clones its own database.
 */
import pg from 'pg'
import { connectDatabase } from '../../db/connect.js'
import { migrateToLatest } from '../../db/migrate.js'
import {
  saveChoice,
  TEMPLATE_DATABASE,
  withDatabase,
  type TestDatabaseChoice,
} from './test-database.js'

async function dockerAnswers(): Promise<boolean> {
  try {
    const { getContainerRuntimeClient } = await import('testcontainers')
    await getContainerRuntimeClient()
    return true
  } catch {
    return false
  }
}

async function startContainer(): Promise<{ url: string; id: string }> {
  // The container outlives this process (the after step stops it), so the reaper is off.
  process.env.TESTCONTAINERS_RYUK_DISABLED = 'true'
  const { PostgreSqlContainer } = await import('@testcontainers/postgresql')
  const container = await new PostgreSqlContainer('postgres:15-alpine').start()
  return { url: container.getConnectionUri(), id: container.getId() }
}

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

async function buildTemplate(adminUrl: string): Promise<void> {
  const admin = new pg.Client({ connectionString: adminUrl })
  await admin.connect()
  try {
    // Databases left by test processes that died before their teardown.
    const { rows } = await admin.query<{ datname: string }>(
      "select datname from pg_database where datname ~ '^payme_test_[0-9]+_([0-9a-f]+|template)$'",
    )
    for (const { datname } of rows) {
      if (!isAlive(Number(datname.split('_')[2]))) {
        await admin.query(`drop database if exists ${datname} with (force)`)
      }
    }
    await admin.query(`create database ${TEMPLATE_DATABASE}`)
  } finally {
    await admin.end()
  }
  const { db } = await connectDatabase({
    kind: 'postgres',
    url: withDatabase(adminUrl, TEMPLATE_DATABASE),
    poolMax: 1,
  })
  try {
    await migrateToLatest(db)
  } finally {
    await db.destroy()
  }
}

async function choose(): Promise<TestDatabaseChoice> {
  const url = process.env.TEST_DATABASE_URL
  if (url)
    return {
      kind: 'postgres',
      adminUrl: url,
      template: TEMPLATE_DATABASE,
      source: 'TEST_DATABASE_URL',
    }
  if (await dockerAnswers()) {
    const container = await startContainer()
    return {
      kind: 'postgres',
      adminUrl: container.url,
      template: TEMPLATE_DATABASE,
      source: 'testcontainers postgres:15-alpine',
      containerId: container.id,
    }
  }
  return { kind: 'embedded', source: 'embedded PGlite (no TEST_DATABASE_URL, no Docker)' }
}

const choice = await choose()
if (choice.kind === 'postgres') {
  await buildTemplate(choice.adminUrl)
  const { host } = new URL(choice.adminUrl)
  console.log(
    `# test database: PostgreSQL at ${host} via ${choice.source}; one database per test file, cloned from ${TEMPLATE_DATABASE}`,
  )
} else {
  console.log(`# test database: ${choice.source}; one in-memory database per test file`)
}
saveChoice(choice)
