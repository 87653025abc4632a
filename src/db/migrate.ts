// Applies prisma/migrations the way `prisma migrate deploy` does, without Prisma's native
// schema engine (which cannot be downloaded everywhere this runs). The bookkeeping is Prisma's
// own table, columns and checksums (SHA-256 of migration.sql) and its advisory-lock key, kept
// in the product's own schema: `auth._prisma_migrations`, beside the tables, so a host's own
// Prisma migrations (in public._prisma_migrations) and ours never meet. Prisma's tooling reads
// ours with `?schema=auth` in its connection string (prisma.config.ts).
import { createHash, randomUUID } from 'node:crypto'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import pg from 'pg'

/** The Postgres schema that holds every table of the product and its migration bookkeeping. */
export const AUTH_SCHEMA = 'auth'

// The key Prisma's schema engine locks on for migrate commands: either tool waits for the other.
export const PRISMA_MIGRATE_LOCK_KEY = 72707369

export const DEFAULT_MIGRATIONS_DIR = fileURLToPath(new URL('../../prisma/migrations', import.meta.url))

const BOOKKEEPING = `${AUTH_SCHEMA}."_prisma_migrations"`

// Prisma's DDL for its bookkeeping table, verbatim but for the schema.
const CREATE_MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS ${BOOKKEEPING} (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
);`

export interface MigrationFile {
  name: string
  sql: string
  checksum: string
}

export interface MigrateResult {
  applied: string[]
  alreadyApplied: string[]
}

export class MigrationError extends Error {}

export async function readMigrations(dir = DEFAULT_MIGRATIONS_DIR): Promise<MigrationFile[]> {
  const entries = await readdir(dir, { withFileTypes: true })
  const names = entries.filter((e) => e.isDirectory()).map((e) => e.name).sort()
  return Promise.all(
    names.map(async (name) => {
      const bytes = await readFile(join(dir, name, 'migration.sql'))
      return { name, sql: bytes.toString('utf8'), checksum: createHash('sha256').update(bytes).digest('hex') }
    }),
  )
}

/**
 * Brings the database up to date: a connection string, or the host's own pool (one connection
 * is borrowed for the run). Safe to run from several processes at once (they take turns on
 * Prisma's advisory lock) and again at every start.
 */
export async function migrate(database: string | pg.Pool, dir = DEFAULT_MIGRATIONS_DIR): Promise<MigrateResult> {
  const migrations = await readMigrations(dir)
  const { client, done } = await connect(database)
  try {
    await client.query('SELECT pg_advisory_lock($1)', [PRISMA_MIGRATE_LOCK_KEY])
    try {
      await createSchemaIfMissing(client)
      await client.query(CREATE_MIGRATIONS_TABLE)
      await adoptPublicBookkeeping(client, migrations)
      return await applyPending(client, migrations)
    } finally {
      // On a lost connection the lock went with it; the unlock's own failure must not hide the
      // error that matters.
      await client.query('SELECT pg_advisory_unlock($1)', [PRISMA_MIGRATE_LOCK_KEY]).catch(() => undefined)
    }
  } finally {
    await done()
  }
}

async function connect(database: string | pg.Pool): Promise<{ client: pg.ClientBase; done(): Promise<void> }> {
  // A connection lost mid-run emits 'error' on the client (a pool listens only while a client is
  // idle): without a listener that is an uncaught exception in the host's process. The loss
  // still surfaces, as the failure of the statement in flight.
  const ignore = () => {}
  if (typeof database !== 'string') {
    const client = await database.connect()
    client.on('error', ignore)
    // The migrations set search_path on this connection; it must not return to the host's pool
    // with it, so it is discarded rather than released.
    return { client, done: async () => client.release(true) }
  }
  const client = new pg.Client({ connectionString: database })
  client.on('error', ignore)
  await client.connect()
  return { client, done: () => client.end() }
}

// Only when missing: a role that owns the schema (a DBA created it for the app) but may not
// create schemas in the database must still migrate, and Postgres checks that privilege even for
// CREATE SCHEMA IF NOT EXISTS.
async function createSchemaIfMissing(client: pg.ClientBase): Promise<void> {
  const { rows } = await client.query<{ found: boolean }>(`SELECT to_regnamespace($1) IS NOT NULL AS found`, [AUTH_SCHEMA])
  if (!rows[0]?.found) await client.query(`CREATE SCHEMA ${AUTH_SCHEMA}`)
}

/**
 * Which of `expected` (migration names) are not recorded as finished in the database; throws
 * when the database cannot be asked (including when it has never been migrated at all).
 */
export async function unappliedMigrations(
  db: { query<R extends pg.QueryResultRow>(sql: string): Promise<pg.QueryResult<R>> },
  expected: string[],
): Promise<string[]> {
  const { rows } = await db.query<{ migration_name: string }>(
    `SELECT migration_name FROM ${BOOKKEEPING} WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL`,
  )
  const done = new Set(rows.map((r) => r.migration_name))
  return expected.filter((name) => !done.has(name))
}

// Databases migrated before the tables had their own schema kept our bookkeeping in
// public._prisma_migrations, where a host's Prisma keeps its own. Our rows (by name) move to
// auth._prisma_migrations, and the table goes if nothing else was in it.
async function adoptPublicBookkeeping(client: pg.ClientBase, migrations: MigrationFile[]): Promise<void> {
  const { rows } = await client.query<{ t: string | null }>(`SELECT to_regclass('public._prisma_migrations')::text AS t`)
  if (!rows[0]?.t) return
  const names = migrations.map((m) => m.name)
  await client.query('BEGIN')
  try {
    await client.query(
      `INSERT INTO ${BOOKKEEPING} SELECT p.* FROM public."_prisma_migrations" p
       WHERE p.migration_name = ANY($1) AND NOT EXISTS (SELECT 1 FROM ${BOOKKEEPING} a WHERE a.id = p.id)`,
      [names],
    )
    const moved = await client.query(`DELETE FROM public."_prisma_migrations" WHERE migration_name = ANY($1)`, [names])
    const left = await client.query(`SELECT 1 FROM public."_prisma_migrations" LIMIT 1`)
    if ((moved.rowCount ?? 0) > 0 && left.rowCount === 0) await client.query(`DROP TABLE public."_prisma_migrations"`)
    await client.query('COMMIT')
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined)
    throw err
  }
}

async function applyPending(client: pg.ClientBase, migrations: MigrationFile[]): Promise<MigrateResult> {
  // Every migration runs in one transaction that also records it as finished, so a row that
  // is not finished is a migration that rolled back (it failed, or its process died): nothing
  // of it is in the database, and it is tried again rather than blocking every later start.
  // Only a row with applied steps (Prisma's CLI, which does not wrap a migration in a
  // transaction, ran it and it failed halfway) needs an operator.
  await client.query(
    `UPDATE ${BOOKKEEPING}
     SET rolled_back_at = now(), logs = coalesce(logs || E'\\n', '') || 'rolled back: its transaction did not commit'
     WHERE finished_at IS NULL AND rolled_back_at IS NULL AND applied_steps_count = 0`,
  )
  const { rows } = await client.query<{ migration_name: string; checksum: string; finished_at: Date | null }>(
    `SELECT migration_name, checksum, finished_at FROM ${BOOKKEEPING} WHERE rolled_back_at IS NULL`,
  )
  const halfApplied = rows.find((r) => r.finished_at === null)
  if (halfApplied) {
    throw new MigrationError(
      `migration ${halfApplied.migration_name} failed halfway outside a transaction; fix the database, then mark it with \`prisma migrate resolve\``,
    )
  }
  const done = new Map(rows.map((r) => [r.migration_name, r.checksum]))
  const result: MigrateResult = { applied: [], alreadyApplied: [] }
  // Unqualified names in the migrations mean the product's schema; public comes second so a
  // database from before the schema existed is found by the migration that moves it.
  await client.query(`SET search_path TO ${AUTH_SCHEMA}, public`)
  for (const m of migrations) {
    const recorded = done.get(m.name)
    if (recorded !== undefined) {
      // Prisma only warns about an edited migration; we refuse, because a silently different
      // schema is how hand-written SQL drifts from schema.prisma.
      if (recorded !== m.checksum) {
        throw new MigrationError(`migration ${m.name} was modified after it was applied (checksum mismatch)`)
      }
      result.alreadyApplied.push(m.name)
      continue
    }
    await applyOne(client, m)
    result.applied.push(m.name)
  }
  return result
}

async function applyOne(client: pg.ClientBase, m: MigrationFile): Promise<void> {
  const id = randomUUID()
  await client.query(
    `INSERT INTO ${BOOKKEEPING} (id, checksum, migration_name, started_at, applied_steps_count)
     VALUES ($1, $2, $3, now(), 0)`,
    [id, m.checksum, m.name],
  )
  try {
    await client.query('BEGIN')
    await client.query(m.sql)
    await client.query(`UPDATE ${BOOKKEEPING} SET finished_at = now(), applied_steps_count = 1 WHERE id = $1`, [id])
    await client.query('COMMIT')
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined)
    // Rolled back, so recorded as such: the next run tries it again.
    await client.query(`UPDATE ${BOOKKEEPING} SET logs = $2, rolled_back_at = now() WHERE id = $1`, [id, String(err)]).catch(() => undefined)
    throw new MigrationError(`migration ${m.name} failed and was rolled back: ${(err as Error).message}`)
  }
}
