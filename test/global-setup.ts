// One Postgres for the whole run: the server in DATABASE_URL when set (CI runs the suite
// once that way), otherwise a throwaway embedded one. Each test file then creates its own
// database on it (test/helpers/database.ts), so files never see each other's rows.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestProject } from 'vitest/node'
import { freePort, startEmbeddedPostgres } from '../src/db/embedded.js'

declare module 'vitest' {
  export interface ProvidedContext {
    adminDatabaseUrl: string
    embedded: boolean
  }
}

export default async function setup(project: TestProject) {
  const external = process.env.DATABASE_URL
  if (external) {
    project.provide('adminDatabaseUrl', external)
    project.provide('embedded', false)
    return
  }
  const dataDir = await mkdtemp(join(tmpdir(), 'auth-test-pg-'))
  const started = Date.now()
  const db = await startEmbeddedPostgres({ dataDir, port: await freePort(), persistent: false })
  console.log(`[global-setup] embedded Postgres ready in ${Date.now() - started} ms`)
  // The superuser: each test file creates its own database, which the app role may not.
  project.provide('adminDatabaseUrl', db.adminUrl)
  project.provide('embedded', true)
  return async () => {
    await db.stop()
    await rm(dataDir, { recursive: true, force: true })
  }
}
