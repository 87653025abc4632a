// Applies prisma/migrations the way `prisma migrate deploy` does, without Prisma's native
// schema engine (which cannot be downloaded everywhere this service runs). The bookkeeping
// is Prisma's own: same table, same columns, SHA-256 of migration.sql as the checksum, same
// advisory-lock key. So `prisma migrate status` / `deploy` on a machine that has the engine
// sees every migration applied here, and either tool waits for the other.
import { createHash, randomUUID } from 'node:crypto'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import pg from 'pg'

// The key Prisma's schema engine locks on for migrate commands.
export const PRISMA_MIGRATE_LOCK_KEY = 72707369

export const DEFAULT_MIGRATIONS_DIR = fileURLToPath(new URL('../../prisma/migrations', import.meta.url))

// Prisma's DDL for its bookkeeping table, verbatim.
const CREATE_MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
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

export async function migrate(databaseUrl: string, dir = DEFAULT_MIGRATIONS_DIR): Promise<MigrateResult> {
  const migrations = await readMigrations(dir)
  const client = new pg.Client({ connectionString: databaseUrl })
  await client.connect()
  try {
    await client.query('SELECT pg_advisory_lock($1)', [PRISMA_MIGRATE_LOCK_KEY])
    try {
      return await applyPending(client, migrations)
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [PRISMA_MIGRATE_LOCK_KEY])
    }
  } finally {
    await client.end()
  }
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
    `SELECT migration_name FROM "_prisma_migrations" WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL`,
  )
  const done = new Set(rows.map((r) => r.migration_name))
  return expected.filter((name) => !done.has(name))
}

async function applyPending(client: pg.Client, migrations: MigrationFile[]): Promise<MigrateResult> {
  await client.query(CREATE_MIGRATIONS_TABLE)
  const { rows } = await client.query<{ migration_name: string; checksum: string; finished_at: Date | null }>(
    `SELECT migration_name, checksum, finished_at FROM "_prisma_migrations" WHERE rolled_back_at IS NULL`,
  )
  const failed = rows.find((r) => r.finished_at === null)
  if (failed) {
    throw new MigrationError(
      `migration ${failed.migration_name} failed earlier and is not rolled back; fix the database, then mark it with \`prisma migrate resolve\``,
    )
  }
  const done = new Map(rows.map((r) => [r.migration_name, r.checksum]))
  const result: MigrateResult = { applied: [], alreadyApplied: [] }
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

async function applyOne(client: pg.Client, m: MigrationFile): Promise<void> {
  const id = randomUUID()
  await client.query(
    `INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at, applied_steps_count)
     VALUES ($1, $2, $3, now(), 0)`,
    [id, m.checksum, m.name],
  )
  try {
    // One transaction per migration: a failure leaves no half-applied schema behind.
    await client.query('BEGIN')
    await client.query(m.sql)
    await client.query(
      `UPDATE "_prisma_migrations" SET finished_at = now(), applied_steps_count = 1 WHERE id = $1`,
      [id],
    )
    await client.query('COMMIT')
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined)
    await client.query(`UPDATE "_prisma_migrations" SET logs = $2 WHERE id = $1`, [id, String(err)])
    throw new MigrationError(`migration ${m.name} failed: ${(err as Error).message}`)
  }
}
