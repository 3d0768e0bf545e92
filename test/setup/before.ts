/**
 * Runs once before the suite (tap's `before`): picks the database and builds a migrated
 * template from which every test file clones its own database (PostgreSQL: a template
 * database; PGlite: a data directory and its dump, loaded into each file's in-memory PGlite).
 */
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import pg from 'pg'
import { connectDatabase, type DatabaseConnection } from '../../db/connect.js'
import { embeddedConnection, PGLITE_OPTIONS } from '../../db/embedded.js'
import { createJobQueue } from '../../db/job-queue.js'
import { migrateToLatest } from '../../db/migrate.js'
import { JOBS } from '../../jobs/index.js'
import { dumpArchive } from '../support/pglite.js'
import { isAlive } from '../support/process-alive.js'
import { prepareStatementCheck } from './statement-check.js'
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

const quiet = { info: () => {}, warn: () => {}, error: () => {} }

/**
 * The schema, then the job queue's (pg-boss installs it when a queue first starts), its queues
 * and schedules: every file's database starts with what a started service has.
 */
async function migrate(connection: DatabaseConnection): Promise<void> {
  await migrateToLatest(connection.db)
  await prepareStatementCheck(connection.db)
  const queue = createJobQueue(connection, JOBS, { workers: false, log: quiet })
  await queue.start()
  await queue.stop(1000)
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
  const connection = await connectDatabase({
    kind: 'postgres',
    url: withDatabase(adminUrl, TEMPLATE_DATABASE),
    poolMax: 1,
  })
  try {
    await migrate(connection)
  } finally {
    await connection.close()
  }
}

const EMBEDDED_TEMPLATE_PREFIX = 'payme-pglite-template-'

/** A migrated PGlite data directory and its dump, in a temporary folder the after step removes. */
async function buildEmbeddedTemplate(): Promise<{
  folder: string
  dataDir: string
  archive: string
}> {
  // Templates left by suite runs that died before their after step.
  for (const name of readdirSync(tmpdir())) {
    const pid = Number(name.slice(EMBEDDED_TEMPLATE_PREFIX.length).split('-')[0])
    if (name.startsWith(EMBEDDED_TEMPLATE_PREFIX) && pid > 0 && !isAlive(pid)) {
      rmSync(join(tmpdir(), name), { recursive: true, force: true })
    }
  }
  const folder = mkdtempSync(join(tmpdir(), `${EMBEDDED_TEMPLATE_PREFIX}${process.ppid}-`))
  const dataDir = join(folder, 'pgdata')
  const archive = join(folder, 'migrated.tar')
  const pglite = await PGlite.create(dataDir, PGLITE_OPTIONS)
  try {
    await migrate(embeddedConnection(pglite, { kind: 'embedded', path: dataDir }))
    writeFileSync(archive, await dumpArchive(pglite))
  } finally {
    await pglite.close()
  }
  return { folder, dataDir, archive }
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
  return {
    kind: 'embedded',
    source: 'embedded PGlite (no TEST_DATABASE_URL, no Docker)',
    template: await buildEmbeddedTemplate(),
  }
}

const choice = await choose()
if (choice.kind === 'postgres') {
  await buildTemplate(choice.adminUrl)
  const { host } = new URL(choice.adminUrl)
  console.log(
    `# test database: PostgreSQL at ${host} via ${choice.source}; one database per test file, cloned from ${TEMPLATE_DATABASE}`,
  )
} else {
  console.log(
    `# test database: ${choice.source}; one in-memory database per test file, loaded from a migrated template`,
  )
}
// CI runs the suite on two Node versions: each run says which it was.
console.log(`# node: ${process.version}`)
saveChoice(choice)
