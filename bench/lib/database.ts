// A PostgreSQL for benchmarks: DATABASE_URL's server, or an embedded one in .data/bench-pg.
// Each run gets a fresh, migrated database so figures never depend on earlier runs.
import { join } from 'node:path'
import pg from 'pg'
import { freePort, startEmbeddedPostgres } from '../../dist/db/embedded.js'
import { migrate } from '../../dist/db/migrate.js'

export interface BenchDatabase {
  url: string
  admin: pg.Pool
  stop(): Promise<void>
}

export async function benchDatabase(name = `bench_${Date.now()}`): Promise<BenchDatabase> {
  let serverUrl = process.env.DATABASE_URL
  let stopServer = async () => {}
  if (!serverUrl) {
    const db = await startEmbeddedPostgres({ dataDir: join(process.cwd(), '.data', 'bench-pg'), port: await freePort() })
    // The superuser: each run creates (and drops) a database of its own.
    serverUrl = db.adminUrl
    stopServer = db.stop
  }
  const root = new pg.Client({ connectionString: serverUrl })
  await root.connect()
  await root.query(`CREATE DATABASE ${name}`)
  await root.end()
  const u = new URL(serverUrl)
  u.pathname = `/${name}`
  const url = u.toString()
  await migrate(url)
  const admin = new pg.Pool({ connectionString: url, max: 4, application_name: 'bench-admin' })
  return {
    url,
    admin,
    async stop() {
      await admin.end()
      const c = new pg.Client({ connectionString: serverUrl })
      await c.connect()
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
      await c.end()
      await stopServer()
    },
  }
}
