// The project's own migrator (src/db/migrate.ts) stands in for `prisma migrate deploy`, so
// it has to keep Prisma's bookkeeping exactly: same `_prisma_migrations` table, SHA-256 of
// migration.sql as checksum, one transaction per migration, the same advisory-lock key.
// Every test gets a fresh, unmigrated database.
import { createHash } from 'node:crypto'
import { appendFile, cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { afterEach, describe, expect, it } from 'vitest'
import { MigrationError, migrate, PRISMA_MIGRATE_LOCK_KEY } from '../../src/db/migrate.js'
import { createTestDatabase } from '../helpers/database.js'

// Prisma's schema engine locks on this key for every migrate command (hard-coded here on
// purpose: the test must not just echo whatever src/ exports).
const PRISMA_LOCK_KEY = 72707369
const MIGRATIONS_DIR = fileURLToPath(new URL('../../prisma/migrations', import.meta.url))
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

interface MigrationRow {
  id: string
  checksum: string
  finished_at: Date | null
  migration_name: string
  logs: string | null
  rolled_back_at: Date | null
  started_at: Date
  applied_steps_count: number
}

/** name -> sha256 hex of migration.sql's bytes, computed independently of src/. */
async function migrationsOnDisk(dir = MIGRATIONS_DIR): Promise<Map<string, string>> {
  const entries = await readdir(dir, { withFileTypes: true })
  const names = entries.filter((e) => e.isDirectory()).map((e) => e.name).sort()
  const out = new Map<string, string>()
  for (const name of names) {
    const bytes = await readFile(join(dir, name, 'migration.sql'))
    out.set(name, createHash('sha256').update(bytes).digest('hex'))
  }
  return out
}

async function query<T extends pg.QueryResultRow = pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []) {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return (await client.query<T>(sql, params)).rows
  } finally {
    await client.end()
  }
}

const rowsOf = (url: string) =>
  query<MigrationRow>(url, `SELECT * FROM "_prisma_migrations" ORDER BY started_at, migration_name`)

async function tableExists(url: string, table: string): Promise<boolean> {
  const [row] = await query<{ t: string | null }>(url, `SELECT to_regclass($1)::text AS t`, [`public.${table}`])
  return row?.t != null
}

// Tables the init migration creates; schema-match.test.ts checks the full shape.
const CORE_TABLES = ['users', 'token_families', 'refresh_tokens']

const cleanups: Array<() => Promise<unknown>> = []
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!()
})

async function freshDb(): Promise<string> {
  const db = await createTestDatabase({ migrate: false })
  cleanups.push(() => db.drop())
  return db.url
}

async function tmpMigrationsDir(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'migrate-test-'))
  cleanups.push(() => rm(root, { recursive: true, force: true }))
  const dir = join(root, 'migrations')
  await cp(MIGRATIONS_DIR, dir, { recursive: true })
  return dir
}

describe('migrate()', () => {
  it('uses the same advisory-lock key as Prisma', () => {
    expect(PRISMA_MIGRATE_LOCK_KEY).toBe(PRISMA_LOCK_KEY)
  })

  it('applies every migration once and records it exactly as Prisma does', async () => {
    const url = await freshDb()
    const onDisk = await migrationsOnDisk()
    expect(onDisk.size).toBeGreaterThan(0)

    const result = await migrate(url)
    expect(result).toEqual({ applied: [...onDisk.keys()], alreadyApplied: [] })

    // Prisma's bookkeeping table, column for column.
    const columns = await query(
      url,
      `SELECT column_name, data_type, character_maximum_length, is_nullable, column_default
         FROM information_schema.columns
        WHERE table_schema = 'public' AND table_name = '_prisma_migrations'
        ORDER BY ordinal_position`,
    )
    expect(columns).toEqual([
      { column_name: 'id', data_type: 'character varying', character_maximum_length: 36, is_nullable: 'NO', column_default: null },
      { column_name: 'checksum', data_type: 'character varying', character_maximum_length: 64, is_nullable: 'NO', column_default: null },
      { column_name: 'finished_at', data_type: 'timestamp with time zone', character_maximum_length: null, is_nullable: 'YES', column_default: null },
      { column_name: 'migration_name', data_type: 'character varying', character_maximum_length: 255, is_nullable: 'NO', column_default: null },
      { column_name: 'logs', data_type: 'text', character_maximum_length: null, is_nullable: 'YES', column_default: null },
      { column_name: 'rolled_back_at', data_type: 'timestamp with time zone', character_maximum_length: null, is_nullable: 'YES', column_default: null },
      { column_name: 'started_at', data_type: 'timestamp with time zone', character_maximum_length: null, is_nullable: 'NO', column_default: 'now()' },
      { column_name: 'applied_steps_count', data_type: 'integer', character_maximum_length: null, is_nullable: 'NO', column_default: '0' },
    ])
    const pk = await query<{ cols: string[] }>(
      url,
      `SELECT array_agg(a.attname::text) AS cols
         FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
        WHERE i.indrelid = '"_prisma_migrations"'::regclass AND i.indisprimary`,
    )
    expect(pk).toEqual([{ cols: ['id'] }])

    const rows = await rowsOf(url)
    expect(rows.map((r) => r.migration_name).sort()).toEqual([...onDisk.keys()])
    for (const row of rows) {
      expect(row.id).toMatch(UUID)
      expect(row.checksum).toBe(onDisk.get(row.migration_name))
      expect(row.finished_at).toBeInstanceOf(Date)
      expect(row.finished_at!.getTime()).toBeGreaterThanOrEqual(row.started_at.getTime())
      expect(row.applied_steps_count).toBe(1)
      expect(row.logs).toBeNull()
      expect(row.rolled_back_at).toBeNull()
    }
    expect(new Set(rows.map((r) => r.id)).size).toBe(rows.length)
    for (const table of CORE_TABLES) expect(await tableExists(url, table), table).toBe(true)
  })

  it('is idempotent: a second run applies nothing and reports everything as already applied', async () => {
    const url = await freshDb()
    const names = [...(await migrationsOnDisk()).keys()]
    await migrate(url)
    const before = await rowsOf(url)

    expect(await migrate(url)).toEqual({ applied: [], alreadyApplied: names })
    expect(await rowsOf(url)).toEqual(before)
  })

  it('is safe to run concurrently: 8 simultaneous runs apply each migration exactly once', async () => {
    const url = await freshDb()
    const names = [...(await migrationsOnDisk()).keys()]

    const results = await Promise.all(Array.from({ length: 8 }, () => migrate(url)))

    for (const name of names) {
      expect(results.filter((r) => r.applied.includes(name)), name).toHaveLength(1)
    }
    for (const r of results) {
      // Every run accounts for every migration, either by applying it or finding it done.
      expect([...r.applied, ...r.alreadyApplied].sort()).toEqual(names)
    }
    const rows = await rowsOf(url)
    expect(rows.map((r) => r.migration_name).sort()).toEqual(names)
    expect(rows.every((r) => r.finished_at !== null && r.applied_steps_count === 1)).toBe(true)
    for (const table of CORE_TABLES) expect(await tableExists(url, table), table).toBe(true)
  })

  it('refuses to run when an applied migration.sql was modified afterwards (checksum mismatch)', async () => {
    const url = await freshDb()
    const dir = await tmpMigrationsDir()
    const names = [...(await migrationsOnDisk(dir)).keys()]
    await migrate(url, dir)
    const before = await rowsOf(url)

    const edited = names[0]!
    await appendFile(join(dir, edited, 'migration.sql'), '\n-- edited after being applied\n')

    const run = migrate(url, dir)
    await expect(run).rejects.toBeInstanceOf(MigrationError)
    await expect(run).rejects.toThrow(/checksum/i)
    await expect(run).rejects.toThrow(edited)
    expect(await rowsOf(url)).toEqual(before)
  })

  it('a failing migration rolls back completely, is recorded as failed, and blocks later runs', async () => {
    const url = await freshDb()
    const dir = await tmpMigrationsDir()
    const good = [...(await migrationsOnDisk(dir)).keys()]
    const broken = '29991231000000_broken'
    const brokenSql = join(dir, broken, 'migration.sql')
    await mkdir(join(dir, broken))
    // The first statements succeed; the last fails. None of them may survive.
    await writeFile(
      brokenSql,
      `CREATE TABLE "partial_probe" ("id" INTEGER NOT NULL);
ALTER TABLE "users" ADD COLUMN "partial_probe_col" TEXT;
SELECT * FROM "table_that_does_not_exist";
`,
    )

    const first = migrate(url, dir)
    await expect(first).rejects.toBeInstanceOf(MigrationError)
    await expect(first).rejects.toThrow(broken)

    // Nothing of the broken migration is left behind.
    expect(await tableExists(url, 'partial_probe')).toBe(false)
    const probeCol = await query(
      url,
      `SELECT 1 FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'partial_probe_col'`,
    )
    expect(probeCol).toEqual([])

    // The good migrations before it were applied; the broken one is recorded as failed.
    const rows = await rowsOf(url)
    for (const name of good) {
      const row = rows.find((r) => r.migration_name === name)
      expect(row?.finished_at, name).toBeInstanceOf(Date)
    }
    const failed = rows.filter((r) => r.migration_name === broken)
    expect(failed).toHaveLength(1)
    expect(failed[0]!.finished_at).toBeNull()
    expect(failed[0]!.rolled_back_at).toBeNull()
    expect(failed[0]!.applied_steps_count).toBe(0)
    expect(failed[0]!.id).toMatch(UUID)
    expect(failed[0]!.logs).toEqual(expect.stringContaining('table_that_does_not_exist'))

    // Like Prisma (P3009): while a failed migration is unresolved, nothing else runs,
    // not even after the SQL is fixed.
    await expect(migrate(url, dir)).rejects.toBeInstanceOf(MigrationError)
    await writeFile(brokenSql, `CREATE TABLE "partial_probe" ("id" INTEGER NOT NULL);\n`)
    const blocked = migrate(url, dir)
    await expect(blocked).rejects.toBeInstanceOf(MigrationError)
    await expect(blocked).rejects.toThrow(broken)
    expect(await tableExists(url, 'partial_probe')).toBe(false)
    expect(await rowsOf(url)).toEqual(rows)

    // `prisma migrate resolve --rolled-back` sets rolled_back_at; then the fixed migration
    // is applied again as a new row, and the old one stays as history.
    await query(url, `UPDATE "_prisma_migrations" SET rolled_back_at = now() WHERE migration_name = $1`, [broken])
    expect(await migrate(url, dir)).toEqual({ applied: [broken], alreadyApplied: good })
    expect(await tableExists(url, 'partial_probe')).toBe(true)
    const after = (await rowsOf(url)).filter((r) => r.migration_name === broken)
    expect(after).toHaveLength(2)
    expect(after.filter((r) => r.rolled_back_at === null && r.finished_at !== null)).toHaveLength(1)
  })

  it('records a migration as finished in the same transaction as its changes', async () => {
    // Postgres already runs a multi-statement script atomically, so the property that needs
    // the explicit transaction is the bookkeeping: if marking the row finished fails, the
    // migration's own changes must be rolled back too. This migration makes exactly that
    // UPDATE fail (NOT VALID: rows already finished are not checked).
    const url = await freshDb()
    const dir = await tmpMigrationsDir()
    const good = [...(await migrationsOnDisk(dir)).keys()]
    const name = '29991231000000_cannot_be_marked_finished'
    await mkdir(join(dir, name))
    await writeFile(
      join(dir, name, 'migration.sql'),
      `CREATE TABLE "atomic_probe" ("id" INTEGER NOT NULL);
ALTER TABLE "_prisma_migrations" ADD CONSTRAINT "never_finished" CHECK ("finished_at" IS NULL) NOT VALID;
`,
    )

    await expect(migrate(url, dir)).rejects.toBeInstanceOf(MigrationError)
    expect(await tableExists(url, 'atomic_probe')).toBe(false)
    expect(await query(url, `SELECT 1 FROM pg_constraint WHERE conname = 'never_finished'`)).toEqual([])
    const rows = await rowsOf(url)
    expect(rows.filter((r) => r.finished_at !== null).map((r) => r.migration_name).sort()).toEqual(good)
    const failed = rows.filter((r) => r.migration_name === name)
    expect(failed).toHaveLength(1)
    expect(failed[0]!.finished_at).toBeNull()
    expect(failed[0]!.logs).toEqual(expect.stringContaining('never_finished'))
  })

  it("waits for Prisma's advisory lock (72707369) and completes once it is released", async () => {
    const url = await freshDb()
    const names = [...(await migrationsOnDisk()).keys()]
    const holder = new pg.Client({ connectionString: url })
    await holder.connect()
    cleanups.push(() => holder.end())
    await holder.query('SELECT pg_advisory_lock($1)', [PRISMA_LOCK_KEY])

    let settled = false
    const run = migrate(url).finally(() => {
      settled = true
    })
    run.catch(() => undefined) // awaited below; avoid an unhandled rejection meanwhile

    // Wait until migrate()'s session is actually queued on that lock (a bigint advisory
    // key shows up as classid = high 32 bits, objid = low 32 bits, objsubid = 1).
    const deadline = Date.now() + 15_000
    let queued = false
    for (;;) {
      const waiting = await holder.query(
        `SELECT 1 FROM pg_locks
          WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
            AND classid = $1 AND objid = $2 AND objsubid = 1`,
        [Math.floor(PRISMA_LOCK_KEY / 2 ** 32), PRISMA_LOCK_KEY % 2 ** 32],
      )
      if (waiting.rowCount) {
        queued = true
        break
      }
      if (settled || Date.now() > deadline) break
      await new Promise((r) => setTimeout(r, 50))
    }
    // Give it a moment more in case it was going to run regardless of the lock.
    await new Promise((r) => setTimeout(r, 300))
    expect(queued).toBe(true)
    expect(settled).toBe(false)
    const table = await holder.query(`SELECT to_regclass('public._prisma_migrations')::text AS t`)
    expect(table.rows[0].t).toBeNull()

    await holder.query('SELECT pg_advisory_unlock($1)', [PRISMA_LOCK_KEY])
    expect(await run).toEqual({ applied: names, alreadyApplied: [] })
    expect((await rowsOf(url)).map((r) => r.migration_name).sort()).toEqual(names)
  })
})
