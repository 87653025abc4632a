// The embedded PostgreSQL runs wherever DATABASE_URL is unset: every development machine, and
// production when the operator opts in. A known superuser password there, or an app connected
// as superuser, hands any local process arbitrary SQL and `COPY … TO PROGRAM` (a shell). So: the
// superuser's password is generated and kept in a 0600 file in the data folder, the app gets a
// role of its own without superuser rights, and a folder made by the old code (postgres/postgres)
// is rotated on its next start. Real servers throughout; each start costs 1–3 s, so few of them.
import { chmod, mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir, userInfo } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { freePort, loadEmbeddedPostgres, startEmbeddedPostgres, type EmbeddedDatabase } from '../../src/db/embedded.js'
import { migrate } from '../../src/db/migrate.js'
import { migrateAsPreviousVersion } from '../helpers/legacy.js'

const CREDENTIALS_FILE = 'credentials.json'

let root: string
const owned: EmbeddedDatabase[] = []

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'auth-embedded-credentials-'))
  // As root, the embedded server's own `postgres` user must reach the folders inside.
  await chmod(root, 0o755)
})
afterAll(async () => {
  for (const db of owned.reverse()) await db.stop()
  await rm(root, { recursive: true, force: true })
})

async function start(dataDir: string, port: number): Promise<EmbeddedDatabase> {
  const db = await startEmbeddedPostgres({ dataDir, port })
  if (db.owned) owned.push(db)
  return db
}

async function stop(db: EmbeddedDatabase): Promise<void> {
  await db.stop()
  owned.splice(owned.indexOf(db), 1)
}

async function query<T extends pg.QueryResultRow = pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return (await client.query<T>(sql)).rows
  } finally {
    await client.end()
  }
}

/** the SQLSTATE the statement fails with, or 'no error' */
async function sqlstate(url: string, sql: string): Promise<string> {
  try {
    await query(url, sql)
    return 'no error'
  } catch (err) {
    return (err as { code?: string }).code ?? String(err)
  }
}

const LEGACY_PASSWORD = 'postgres'
const legacyUrl = (port: number, database = 'postgres') => `postgresql://postgres:${LEGACY_PASSWORD}@127.0.0.1:${port}/${database}`

interface RoleRow {
  name: string
  rolsuper: boolean
  rolcreaterole: boolean
  rolcreatedb: boolean
  rolreplication: boolean
  rolbypassrls: boolean
}
const whoAmI = (url: string) =>
  query<RoleRow>(url, `SELECT rolname AS name, rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls FROM pg_roles WHERE rolname = current_user`).then((r) => r[0]!)

async function expectUnprivilegedAppRole(url: string): Promise<string> {
  const me = await whoAmI(url)
  expect(me.name).not.toBe('postgres')
  expect(me).toMatchObject({ rolsuper: false, rolcreaterole: false, rolcreatedb: false, rolreplication: false, rolbypassrls: false })
  // What the review demonstrated: a superuser runs shell commands as the server's OS user.
  expect(await sqlstate(url, `COPY (SELECT 1) TO PROGRAM 'true'`)).toBe('42501')
  return me.name
}

async function expectCredentialsFile(dataDir: string, db: EmbeddedDatabase): Promise<void> {
  const file = join(dataDir, CREDENTIALS_FILE)
  expect((await stat(file)).mode & 0o777).toBe(0o600)
  const text = await readFile(file, 'utf8')
  for (const url of [db.url, db.adminUrl]) {
    const password = decodeURIComponent(new URL(url).password)
    expect(password.length).toBeGreaterThanOrEqual(32)
    expect(text).toContain(password)
  }
}

/** every rule in pg_hba.conf, read through the server (needs the superuser) */
const authMethods = (adminUrl: string) =>
  query<{ auth_method: string }>(adminUrl, `SELECT DISTINCT auth_method FROM pg_hba_file_rules WHERE error IS NULL`).then((r) => r.map((x) => x.auth_method))

describe('a data folder initialised now', () => {
  let dataRoot: string
  let dataDir: string
  let port: number
  let db: EmbeddedDatabase

  beforeAll(async () => {
    dataRoot = join(root, 'fresh')
    dataDir = join(dataRoot, 'postgres')
    await mkdir(dataRoot)
    port = await freePort()
    db = await start(dataDir, port)
  })

  it('hands the app a role without superuser rights, which cannot run programs', async () => {
    await expectUnprivilegedAppRole(db.url)
  })

  it('lets that role migrate its own database: it owns the database and every table', async () => {
    await migrate(db.url)
    const me = (await whoAmI(db.url)).name
    const [database] = await query<{ owner: string }>(db.url, `SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = current_database()`)
    expect(database!.owner).toBe(me)
    const [schema] = await query<{ owner: string }>(db.url, `SELECT pg_get_userbyid(nspowner) AS owner FROM pg_namespace WHERE nspname = 'auth'`)
    expect(schema!.owner).toBe(me)
    const tables = await query<{ tablename: string; tableowner: string }>(db.url, `SELECT tablename, tableowner FROM pg_tables WHERE schemaname = 'auth'`)
    expect(tables.map((t) => t.tablename)).toEqual(expect.arrayContaining(['_prisma_migrations', 'users', 'token_families', 'refresh_tokens']))
    expect(new Set(tables.map((t) => t.tableowner))).toEqual(new Set([me]))
  })

  it('refuses postgres/postgres; the superuser has a generated password, kept with the app role’s in a 0600 file', async () => {
    expect(await sqlstate(legacyUrl(port), 'SELECT 1')).toBe('28P01')
    expect((await whoAmI(db.adminUrl)).rolsuper).toBe(true)
    await expectCredentialsFile(dataDir, db)
    expect(await authMethods(db.adminUrl)).toEqual(['scram-sha-256'])
  })

  it('a second process on the folder attaches with those credentials; a restart keeps them', async () => {
    const file = await readFile(join(dataDir, CREDENTIALS_FILE), 'utf8')
    const second = await start(dataDir, await freePort())
    expect(second.owned).toBe(false)
    expect(second.port).toBe(port)
    expect(second.url).toBe(db.url)
    expect(second.adminUrl).toBe(db.adminUrl)

    await stop(db)
    db = await start(dataDir, port)
    expect(db.owned).toBe(true)
    expect(db.url).toBe(second.url)
    expect(await readFile(join(dataDir, CREDENTIALS_FILE), 'utf8')).toBe(file)
    await expectUnprivilegedAppRole(db.url)
    expect((await query(db.url, 'SELECT count(*) FROM auth._prisma_migrations'))[0]).toBeTruthy()
  })

  it('prisma.config.ts (no DATABASE_URL) points the Prisma CLI at the app role of this folder', async () => {
    const saved = { DATABASE_URL: process.env.DATABASE_URL, DATA_DIR: process.env.DATA_DIR, EMBEDDED_PG_PORT: process.env.EMBEDDED_PG_PORT }
    try {
      delete process.env.DATABASE_URL
      process.env.DATA_DIR = dataRoot
      process.env.EMBEDDED_PG_PORT = String(port)
      vi.resetModules()
      const { default: prismaConfig } = await import('../../prisma.config.js')
      const url = new URL((prismaConfig.datasource as { url: string }).url)
      // The CLI's bookkeeping is ours only in schema auth (prisma-config.test.ts).
      expect(url.searchParams.get('schema')).toBe('auth')
      url.searchParams.delete('schema')
      expect(url.toString()).toBe(db.url)
      await expectUnprivilegedAppRole(url.toString())
    } finally {
      for (const [name, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[name]
        else process.env[name] = value
      }
    }
  })
})

describe('a data folder initialised by the previous version (superuser postgres/postgres, no credentials file)', () => {
  let dataDir: string
  let port: number

  beforeAll(async () => {
    dataDir = join(root, 'legacy', 'postgres')
    await mkdir(join(root, 'legacy'))
    port = await freePort()
    // Exactly what src/db/embedded.ts did before: the app itself connected as this superuser and
    // migrated the `postgres` database.
    const EmbeddedPostgres = await loadEmbeddedPostgres()
    const old = new EmbeddedPostgres({
      databaseDir: dataDir,
      port,
      user: 'postgres',
      password: LEGACY_PASSWORD,
      persistent: true,
      createPostgresUser: userInfo().uid === 0,
      postgresFlags: ['-c', 'listen_addresses=127.0.0.1'],
      onLog: () => {},
      onError: () => {},
    })
    await mkdir(dataDir, { recursive: true })
    await old.initialise()
    await old.start()
    try {
      // That version's migrator also kept every table in public.
      await migrateAsPreviousVersion(legacyUrl(port))
      await query(legacyUrl(port), `INSERT INTO public.users (id, email, password_hash, updated_at) VALUES (gen_random_uuid(), 'before@example.com', 'x', now())`)
    } finally {
      await old.stop()
    }
  })

  it('gets a generated superuser password on its next start, and the app keeps its data under its own role', async () => {
    const db = await start(dataDir, port)
    expect(db.owned).toBe(true)
    expect(await sqlstate(legacyUrl(port), 'SELECT 1')).toBe('28P01')
    await expectCredentialsFile(dataDir, db)
    expect((await whoAmI(db.adminUrl)).rolsuper).toBe(true)
    // The old server accepted cleartext passwords; the folder now asks for SCRAM like a new one.
    expect(await authMethods(db.adminUrl)).toEqual(['scram-sha-256'])

    const me = await expectUnprivilegedAppRole(db.url)
    // The superuser's tables are the app role's now, so it can run the migration that moves
    // them into auth; the accounts made before the upgrade go along, and the app role can
    // change its schema and its rows.
    const owners = async (schema: string) =>
      new Set((await query<{ tableowner: string }>(db.url, `SELECT tableowner FROM pg_tables WHERE schemaname = '${schema}'`)).map((t) => t.tableowner))
    expect((await query(db.url, `SELECT tablename FROM pg_tables WHERE schemaname = 'public'`)).length).toBeGreaterThanOrEqual(6)
    expect(await owners('public')).toEqual(new Set([me]))
    await migrate(db.url)
    expect(await query(db.url, 'SELECT email FROM auth.users')).toEqual([{ email: 'before@example.com' }])
    expect(await owners('auth')).toEqual(new Set([me]))
    expect(await owners('public')).toEqual(new Set())
    await query(db.url, `INSERT INTO auth.users (id, email, password_hash, updated_at) VALUES (gen_random_uuid(), 'after@example.com', 'x', now())`)
    await query(db.url, `ALTER TABLE auth.users ADD COLUMN upgrade_probe int; ALTER TABLE auth.users DROP COLUMN upgrade_probe`)
  })
})
