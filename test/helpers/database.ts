import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { afterAll, beforeAll, inject } from 'vitest'
import { migrate } from '../../src/db/migrate.js'

export function adminUrl(): string {
  return inject('adminDatabaseUrl')
}

export function withDatabase(url: string, database: string): string {
  const u = new URL(url)
  u.pathname = `/${database}`
  return u.toString()
}

// One small pool per database a test file talks to; connecting per query would dominate
// tests that check state after every one of hundreds of races.
const pools = new Map<string, pg.Pool>()

function poolFor(url: string): pg.Pool {
  let pool = pools.get(url)
  if (!pool) {
    // Tests read and write the product's tables by their plain names; they live in `auth`.
    pool = new pg.Pool({ connectionString: url, max: 2, allowExitOnIdle: true, options: '-c search_path=auth,public' })
    pool.on('error', () => {}) // a dropped database kills idle connections; that is expected
    pools.set(url, pool)
  }
  return pool
}

export async function adminQuery<T extends pg.QueryResultRow = pg.QueryResultRow>(
  sql: string,
  params: unknown[] = [],
  url = adminUrl(),
): Promise<T[]> {
  return (await poolFor(url).query<T>(sql, params)).rows
}

/** A new, empty database on the test server; migrated unless asked not to be. */
export async function createTestDatabase(opts: { migrate?: boolean } = {}): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `t_${randomBytes(6).toString('hex')}`
  await adminQuery(`CREATE DATABASE ${name}`)
  const url = withDatabase(adminUrl(), name)
  if (opts.migrate !== false) await migrate(url)
  return {
    url,
    async drop() {
      await pools.get(url)?.end()
      pools.delete(url)
      await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
    },
  }
}

/**
 * For the whole test file: a migrated database of its own and one connection to it, for tests
 * whose statements must share a session (a transaction rolled back, its own statistics).
 */
export function testDatabaseConnection(): Pick<pg.Client, 'query'> {
  let db: Awaited<ReturnType<typeof createTestDatabase>> | undefined
  let client: pg.Client | undefined
  beforeAll(async () => {
    db = await createTestDatabase()
    client = new pg.Client({ connectionString: db.url })
    await client.connect()
  })
  afterAll(async () => {
    await client?.end()
    await db?.drop()
  })
  return { query: ((...args: Parameters<pg.Client['query']>) => client!.query(...args)) as pg.Client['query'] }
}

/** The app's connections (its pool and its listener) open on the database at `url`, by Postgres' count. */
export async function appConnections(url: string): Promise<number> {
  const [row] = await adminQuery<{ n: string }>(
    `SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'fastify-auth%'`,
    [],
    url,
  )
  return Number(row!.n)
}

/**
 * The app's connections still open after it has closed them: a backend leaves pg_stat_activity
 * a moment after its client has gone, so Postgres is asked for up to a second until none is left.
 */
export async function appConnectionsLeft(url: string): Promise<number> {
  for (let i = 0; i < 50 && (await appConnections(url)) > 0; i++) await new Promise((r) => setTimeout(r, 20))
  return appConnections(url)
}
