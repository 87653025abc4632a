// A database as the version before the `auth` schema left it: its tables in public and its
// bookkeeping in public._prisma_migrations. Built the way that migrator (a4a9b35:
// src/db/migrate.ts) did it, with Prisma's table and checksums and one transaction per
// migration, and written here rather than imported because the current migrator no longer can.
import { createHash, randomUUID } from 'node:crypto'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import pg from 'pg'

const MIGRATIONS_DIR = fileURLToPath(new URL('../../prisma/migrations', import.meta.url))

/** The newest migration that version shipped; everything after it knows about `auth`. */
export const LAST_PUBLIC_MIGRATION = '20261201110000_rate_limit_counters'

/** The migrations that version had, oldest first, up to `upTo` inclusive. */
export async function previousVersionMigrations(upTo = LAST_PUBLIC_MIGRATION): Promise<{ name: string; sql: string; checksum: string }[]> {
  const entries = await readdir(MIGRATIONS_DIR, { withFileTypes: true })
  const names = entries.filter((e) => e.isDirectory() && e.name <= upTo).map((e) => e.name).sort()
  return Promise.all(
    names.map(async (name) => {
      const bytes = await readFile(join(MIGRATIONS_DIR, name, 'migration.sql'))
      return { name, sql: bytes.toString('utf8'), checksum: createHash('sha256').update(bytes).digest('hex') }
    }),
  )
}

/** Migrates `url` as the previous version would have; returns the names applied. */
export async function migrateAsPreviousVersion(url: string, upTo = LAST_PUBLIC_MIGRATION): Promise<string[]> {
  const migrations = await previousVersionMigrations(upTo)
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    // That version left search_path alone; pinned here so a role or database default that
    // names `auth` cannot move the tables of this fixture.
    await client.query('SET search_path TO public')
    await client.query(`CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
);`)
    for (const m of migrations) {
      const id = randomUUID()
      await client.query(
        `INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at, applied_steps_count) VALUES ($1, $2, $3, now(), 0)`,
        [id, m.checksum, m.name],
      )
      await client.query('BEGIN')
      await client.query(m.sql)
      await client.query(`UPDATE "_prisma_migrations" SET finished_at = now(), applied_steps_count = 1 WHERE id = $1`, [id])
      await client.query('COMMIT')
    }
    return migrations.map((m) => m.name)
  } finally {
    await client.end()
  }
}
