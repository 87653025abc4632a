// The project's own migrator (src/db/migrate.ts) stands in for `prisma migrate deploy`, so
// it has to keep Prisma's bookkeeping exactly: same `_prisma_migrations` table, SHA-256 of
// migration.sql as checksum, the same advisory-lock key. It keeps that table in the product's
// own schema, auth._prisma_migrations, beside the tables, so that a host's Prisma (which
// keeps public._prisma_migrations) never meets it. Every test gets a fresh, unmigrated
// database.
import { createHash, randomUUID } from 'node:crypto'
import { appendFile, cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { afterEach, describe, expect, it } from 'vitest'
import { MigrationError, migrate, PRISMA_MIGRATE_LOCK_KEY, unappliedMigrations } from '../../src/db/migrate.js'
import { adminQuery, createTestDatabase } from '../helpers/database.js'
import { LAST_PUBLIC_MIGRATION, migrateAsPreviousVersion } from '../helpers/legacy.js'

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

const rowsOf = (url: string, table = 'auth."_prisma_migrations"') =>
  query<MigrationRow>(url, `SELECT * FROM ${table} ORDER BY started_at, migration_name, id`)

/** `qualified` is schema.table */
async function tableExists(url: string, qualified: string): Promise<boolean> {
  const [row] = await query<{ t: string | null }>(url, `SELECT to_regclass($1)::text AS t`, [qualified])
  return row?.t != null
}

/** Every relation (table, index, sequence, view) and enum in a schema, as "kind name". */
async function objectsIn(url: string, schema: string): Promise<string[]> {
  const rows = await query<{ o: string }>(
    url,
    `SELECT c.relkind::text || ' ' || c.relname AS o FROM pg_class c WHERE c.relnamespace = to_regnamespace($1)
     UNION ALL
     SELECT 'enum ' || t.typname FROM pg_type t WHERE t.typnamespace = to_regnamespace($1) AND t.typtype = 'e'
     ORDER BY 1`,
    [schema],
  )
  return rows.map((r) => r.o)
}

/**
 * The shape of a schema as strings that name nothing database-specific: columns, constraints
 * and index definitions. Two databases with the same shape were built to the same schema.
 */
async function shapeOf(url: string, schema: string): Promise<string[]> {
  const rows = await query<{ s: string }>(
    url,
    `SELECT format('column %s.%s %s %s default %s', c.relname, a.attname, format_type(a.atttypid, a.atttypmod),
                   CASE WHEN a.attnotnull THEN 'not null' ELSE 'null' END, pg_get_expr(d.adbin, d.adrelid)) AS s
       FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
       LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
      WHERE c.relnamespace = to_regnamespace($1) AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
     UNION ALL
     SELECT format('constraint %s.%s %s', c.relname, con.conname, pg_get_constraintdef(con.oid))
       FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid
      WHERE c.relnamespace = to_regnamespace($1)
     UNION ALL
     SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = $1
     ORDER BY 1`,
    [schema],
  )
  return rows.map((r) => r.s)
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

/** Adds a migration after every real one; returns its name and the checksum of its SQL. */
async function addMigration(dir: string, name: string, sql: string): Promise<{ name: string; checksum: string }> {
  await mkdir(join(dir, name), { recursive: true })
  await writeFile(join(dir, name, 'migration.sql'), sql)
  return { name, checksum: createHash('sha256').update(sql).digest('hex') }
}

describe('migrate()', () => {
  it('uses the same advisory-lock key as Prisma', () => {
    expect(PRISMA_MIGRATE_LOCK_KEY).toBe(PRISMA_LOCK_KEY)
  })

  it('applies every migration once into schema auth and records it there exactly as Prisma does', async () => {
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
        WHERE table_schema = 'auth' AND table_name = '_prisma_migrations'
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
        WHERE i.indrelid = 'auth."_prisma_migrations"'::regclass AND i.indisprimary`,
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
    for (const table of CORE_TABLES) expect(await tableExists(url, `auth.${table}`), table).toBe(true)
    // public is the host's: not a table, index or bookkeeping row of ours goes there.
    expect(await objectsIn(url, 'public')).toEqual([])
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
    for (const table of CORE_TABLES) expect(await tableExists(url, `auth.${table}`), table).toBe(true)
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

  it('a failing migration rolls back completely, is recorded rolled back with its error, and does not block the next run', async () => {
    const url = await freshDb()
    const dir = await tmpMigrationsDir()
    const good = [...(await migrationsOnDisk(dir)).keys()]
    // The first statements succeed; the last fails. None of them may survive.
    const broken = await addMigration(
      dir,
      '29991231000000_broken',
      `CREATE TABLE "partial_probe" ("id" INTEGER NOT NULL);
ALTER TABLE "users" ADD COLUMN "partial_probe_col" TEXT;
SELECT * FROM "table_that_does_not_exist";
`,
    )
    const leftovers = async () => ({
      table: (await tableExists(url, 'auth.partial_probe')) || (await tableExists(url, 'public.partial_probe')),
      column: await query(url, `SELECT 1 FROM information_schema.columns WHERE column_name = 'partial_probe_col'`),
    })

    const first = migrate(url, dir)
    await expect(first).rejects.toBeInstanceOf(MigrationError)
    await expect(first).rejects.toThrow(broken.name)
    await expect(first).rejects.toThrow(/table_that_does_not_exist/)
    expect(await leftovers()).toEqual({ table: false, column: [] })

    // The good migrations before it were applied; the broken one is recorded as rolled back,
    // with the error for whoever reads `prisma migrate status`.
    const rows = await rowsOf(url)
    for (const name of good) {
      const row = rows.find((r) => r.migration_name === name)
      expect(row?.finished_at, name).toBeInstanceOf(Date)
    }
    const failed = rows.filter((r) => r.migration_name === broken.name)
    expect(failed).toHaveLength(1)
    expect(failed[0]).toMatchObject({ finished_at: null, applied_steps_count: 0, checksum: broken.checksum })
    expect(failed[0]!.rolled_back_at).toBeInstanceOf(Date)
    expect(failed[0]!.id).toMatch(UUID)
    expect(failed[0]!.logs).toEqual(expect.stringContaining('table_that_does_not_exist'))
    const pool = new pg.Pool({ connectionString: url, max: 1 })
    pool.on('error', () => {}) // dropping the database at the end kills its idle connection
    cleanups.push(() => pool.end())
    expect(await unappliedMigrations(pool, [...good, broken.name])).toEqual([broken.name])

    // Unlike Prisma's P3009, the next run is not blocked: it tries the migration again (and,
    // the SQL being unchanged, fails the same way, again leaving nothing behind).
    const second = migrate(url, dir)
    await expect(second).rejects.toThrow(/table_that_does_not_exist/)
    expect(await leftovers()).toEqual({ table: false, column: [] })
    const attempts = (await rowsOf(url)).filter((r) => r.migration_name === broken.name)
    expect(attempts).toHaveLength(2)
    expect(attempts.every((r) => r.rolled_back_at !== null && r.finished_at === null)).toBe(true)

    // Fixed, it applies on the next start; the failed attempts stay as history.
    const fixed = await addMigration(dir, broken.name, `CREATE TABLE "partial_probe" ("id" INTEGER NOT NULL);\n`)
    expect(await migrate(url, dir)).toEqual({ applied: [broken.name], alreadyApplied: good })
    expect(await tableExists(url, 'auth.partial_probe')).toBe(true)
    const after = (await rowsOf(url)).filter((r) => r.migration_name === broken.name)
    expect(after).toHaveLength(3)
    const live = after.filter((r) => r.rolled_back_at === null)
    expect(live).toHaveLength(1)
    expect(live[0]).toMatchObject({ checksum: fixed.checksum, applied_steps_count: 1, logs: null })
    expect(live[0]!.finished_at).toBeInstanceOf(Date)
    expect(await unappliedMigrations(pool, [...good, broken.name])).toEqual([])
    expect(await migrate(url, dir)).toEqual({ applied: [], alreadyApplied: [...good, broken.name] })
  })

  it('records a migration as finished in the same transaction as its changes', async () => {
    // Postgres already runs a multi-statement script atomically, so the property that needs
    // the explicit transaction is the bookkeeping: if marking the row finished fails, the
    // migration's own changes must be rolled back too. This migration makes exactly that
    // UPDATE fail (NOT VALID: rows already finished are not checked).
    const url = await freshDb()
    const dir = await tmpMigrationsDir()
    const good = [...(await migrationsOnDisk(dir)).keys()]
    const { name } = await addMigration(
      dir,
      '29991231000000_cannot_be_marked_finished',
      `CREATE TABLE "atomic_probe" ("id" INTEGER NOT NULL);
ALTER TABLE "_prisma_migrations" ADD CONSTRAINT "never_finished" CHECK ("finished_at" IS NULL) NOT VALID;
`,
    )

    await expect(migrate(url, dir)).rejects.toBeInstanceOf(MigrationError)
    expect(await tableExists(url, 'auth.atomic_probe')).toBe(false)
    expect(await query(url, `SELECT 1 FROM pg_constraint WHERE conname = 'never_finished'`)).toEqual([])
    const rows = await rowsOf(url)
    expect(rows.filter((r) => r.finished_at !== null).map((r) => r.migration_name).sort()).toEqual(good)
    const failed = rows.filter((r) => r.migration_name === name)
    expect(failed).toHaveLength(1)
    expect(failed[0]!.finished_at).toBeNull()
    expect(failed[0]!.rolled_back_at).toBeInstanceOf(Date)
    expect(failed[0]!.logs).toEqual(expect.stringContaining('never_finished'))
  })

  it('retries a migration whose process died mid-way (a row left unfinished, with no applied steps)', async () => {
    const url = await freshDb()
    const dir = await tmpMigrationsDir()
    const good = [...(await migrationsOnDisk(dir)).keys()]
    await migrate(url, dir)
    const interrupted = await addMigration(dir, '29991231000000_interrupted', `CREATE TABLE "interrupted_probe" ("id" INTEGER);\n`)
    // What the migrator leaves when its process dies inside the migration's transaction: the
    // row it inserted before BEGIN, and nothing else (the transaction never committed).
    const crashedId = randomUUID()
    await query(
      url,
      `INSERT INTO auth."_prisma_migrations" (id, checksum, migration_name, started_at, applied_steps_count)
       VALUES ($1, $2, $3, now() - interval '5 minutes', 0)`,
      [crashedId, interrupted.checksum, interrupted.name],
    )

    expect(await migrate(url, dir)).toEqual({ applied: [interrupted.name], alreadyApplied: good })
    expect(await tableExists(url, 'auth.interrupted_probe')).toBe(true)
    const rows = (await rowsOf(url)).filter((r) => r.migration_name === interrupted.name)
    expect(rows).toHaveLength(2)
    const crashed = rows.find((r) => r.id === crashedId)!
    expect(crashed).toMatchObject({ finished_at: null, applied_steps_count: 0 })
    expect(crashed.rolled_back_at).toBeInstanceOf(Date)
    expect(crashed.logs).toMatch(/rolled back/)
    const retried = rows.find((r) => r.id !== crashedId)!
    expect(retried).toMatchObject({ rolled_back_at: null, applied_steps_count: 1, checksum: interrupted.checksum })
    expect(retried.finished_at).toBeInstanceOf(Date)
  })

  it('a connection lost mid-migration rejects with a MigrationError, leaves nothing applied, and the next run retries it', async () => {
    // The real thing behind the test above: the migrator's connection is terminated while its
    // migration runs. The migration sleeps only for a connection named as below, so the retry,
    // with the very same SQL and checksum, goes through. A host that awaits migrate() in a
    // try/catch must get a rejection, not an 'error' event nobody listens to (which would end
    // its process), nor the unlock's failure on the dead connection in place of the real error.
    const url = await freshDb()
    const dir = await tmpMigrationsDir()
    const good = [...(await migrationsOnDisk(dir)).keys()]
    const killed = await addMigration(
      dir,
      '29991231000000_killed',
      `CREATE TABLE "killed_probe" ("id" INTEGER);
SELECT CASE WHEN current_setting('application_name') = 'migrate-killed' THEN pg_sleep(60) END;
`,
    )
    const doomed = new URL(url)
    doomed.searchParams.set('application_name', 'migrate-killed')
    const run = migrate(doomed.toString(), dir)
    run.catch(() => undefined) // awaited below

    const deadline = Date.now() + 15_000
    for (;;) {
      const [sleeping] = await query<{ pid: number }>(
        url,
        `SELECT pid FROM pg_stat_activity WHERE application_name = 'migrate-killed' AND wait_event = 'PgSleep'`,
      )
      if (sleeping) {
        await query(url, 'SELECT pg_terminate_backend($1)', [sleeping.pid])
        break
      }
      if (Date.now() > deadline) throw new Error('the migration never reached its sleep')
      await new Promise((r) => setTimeout(r, 50))
    }

    await expect(run).rejects.toBeInstanceOf(MigrationError)
    await expect(run).rejects.toThrow(killed.name)
    expect(await tableExists(url, 'auth.killed_probe')).toBe(false)
    const [left] = (await rowsOf(url)).filter((r) => r.migration_name === killed.name)
    expect(left).toMatchObject({ finished_at: null, rolled_back_at: null, applied_steps_count: 0 })

    expect(await migrate(url, dir)).toEqual({ applied: [killed.name], alreadyApplied: good })
    expect(await tableExists(url, 'auth.killed_probe')).toBe(true)
  })

  it('a migration half-applied outside a transaction (applied steps, not finished) blocks every run until resolved', async () => {
    const url = await freshDb()
    const dir = await tmpMigrationsDir()
    const good = [...(await migrationsOnDisk(dir)).keys()]
    await migrate(url, dir)
    const half = await addMigration(dir, '29991231000000_half_applied', `CREATE TABLE "half_probe" ("id" INTEGER);\n`)
    const later = await addMigration(dir, '29991231000001_later', `CREATE TABLE "later_probe" ("id" INTEGER);\n`)
    // Prisma's CLI does not wrap a migration in a transaction; a row with steps counted but no
    // finished_at says some of it is in the database, and only an operator knows what.
    await query(
      url,
      `INSERT INTO auth."_prisma_migrations" (id, checksum, migration_name, started_at, applied_steps_count, logs)
       VALUES ($1, $2, $3, now(), 1, 'step 2 failed')`,
      [randomUUID(), half.checksum, half.name],
    )
    const before = await rowsOf(url)

    for (let attempt = 0; attempt < 2; attempt++) {
      const run = migrate(url, dir)
      await expect(run).rejects.toBeInstanceOf(MigrationError)
      await expect(run).rejects.toThrow(half.name)
      await expect(run).rejects.toThrow(/prisma migrate resolve/)
    }
    expect(await tableExists(url, 'auth.half_probe')).toBe(false)
    expect(await tableExists(url, 'auth.later_probe')).toBe(false)
    expect(await rowsOf(url)).toEqual(before)

    // `prisma migrate resolve --rolled-back` sets rolled_back_at; then it is applied afresh.
    await query(url, `UPDATE auth."_prisma_migrations" SET rolled_back_at = now() WHERE migration_name = $1`, [half.name])
    expect(await migrate(url, dir)).toEqual({ applied: [half.name, later.name], alreadyApplied: good })
    expect(await tableExists(url, 'auth.half_probe')).toBe(true)
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
    // Not even the schema or the bookkeeping table is created before the lock is held.
    const nothing = await holder.query(`SELECT to_regnamespace('auth')::text AS s, to_regclass('auth._prisma_migrations')::text AS t`)
    expect(nothing.rows[0]).toEqual({ s: null, t: null })

    await holder.query('SELECT pg_advisory_unlock($1)', [PRISMA_LOCK_KEY])
    expect(await run).toEqual({ applied: names, alreadyApplied: [] })
    expect((await rowsOf(url)).map((r) => r.migration_name).sort()).toEqual(names)
  })
})

describe('migrate() as a role that may not create schemas', () => {
  // A common managed-database setup: the DBA creates the app's schema and gives it to the app
  // role, which gets no CREATE on the database. Postgres checks that privilege before it
  // looks whether the schema exists, so even CREATE SCHEMA IF NOT EXISTS fails for this role.
  it('migrates into a schema auth that was created for it', async () => {
    const role = `migrator_${randomUUID().slice(0, 8)}`
    await adminQuery(`CREATE ROLE ${role} LOGIN PASSWORD 'pw' NOSUPERUSER NOCREATEDB NOCREATEROLE`)
    cleanups.push(() => adminQuery(`DROP ROLE IF EXISTS ${role}`))
    const url = await freshDb()
    await query(url, `REVOKE CREATE ON DATABASE "${new URL(url).pathname.slice(1)}" FROM PUBLIC; CREATE SCHEMA auth AUTHORIZATION ${role}`)
    const asRole = new URL(url)
    asRole.username = role
    asRole.password = 'pw'

    const names = [...(await migrationsOnDisk()).keys()]
    expect(await migrate(asRole.toString())).toEqual({ applied: names, alreadyApplied: [] })
    const owners = await query<{ tableowner: string }>(url, `SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'auth'`)
    expect(owners).toEqual([{ tableowner: role }])
    expect(await migrate(asRole.toString())).toEqual({ applied: [], alreadyApplied: names })
  })
})

describe('migrate(pool): a host hands over its own pg.Pool', () => {
  // max 1: the connection migrate() borrows is the only one, so whatever it leaves on it the
  // next statement would see; the timeout turns a connection never given back into an error.
  function hostPool(url: string): pg.Pool {
    const pool = new pg.Pool({ connectionString: url, max: 1, connectionTimeoutMillis: 5_000 })
    pool.on('error', () => {}) // dropping the database at the end kills its idle connection
    cleanups.push(() => pool.end())
    return pool
  }
  const searchPath = async (pool: pg.Pool) => (await pool.query<{ search_path: string }>('SHOW search_path')).rows[0]!.search_path

  it('migrates through one borrowed connection, and the pool stays usable with its own search_path', async () => {
    const url = await freshDb()
    const names = [...(await migrationsOnDisk()).keys()]
    const pool = hostPool(url)
    const hostPath = await searchPath(pool)
    const { rows: [before] } = await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')

    expect(await migrate(pool)).toEqual({ applied: names, alreadyApplied: [] })

    // The migrations ran with search_path auth, public on the borrowed connection; the host's
    // next statement must not inherit it (its unqualified "users" would be ours).
    expect(await searchPath(pool)).toBe(hostPath)
    expect(hostPath).not.toMatch(/auth/)
    const { rows: [after] } = await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')
    expect(after!.pid).not.toBe(before!.pid)
    expect(await unappliedMigrations(pool, names)).toEqual([])
    expect(await migrate(pool)).toEqual({ applied: [], alreadyApplied: names })
    expect(await searchPath(pool)).toBe(hostPath)
  })

  it('a failing migration through the pool gives the connection up too', async () => {
    const url = await freshDb()
    const dir = await tmpMigrationsDir()
    await addMigration(dir, '29991231000000_broken', `SELECT * FROM "table_that_does_not_exist";\n`)
    const pool = hostPool(url)
    const hostPath = await searchPath(pool)

    await expect(migrate(pool, dir)).rejects.toBeInstanceOf(MigrationError)
    expect(await searchPath(pool)).toBe(hostPath)
    expect(pool.totalCount).toBe(1)
  })
})

describe('a database migrated by the previous version (tables and bookkeeping in public)', () => {
  const TABLES = ['users', 'token_families', 'refresh_tokens', 'audit_events', 'login_attempts', 'rate_limit_counters']
  const ids = { user: randomUUID(), family: randomUUID(), token1: randomUUID(), token2: randomUUID(), event: randomUUID() }

  // One row in every table, linked the way the product links them.
  async function seed(url: string): Promise<void> {
    const client = new pg.Client({ connectionString: url })
    await client.connect()
    try {
      const month = `now() + interval '30 days'`
      await client.query(`INSERT INTO public.users (id, email, password_hash, updated_at) VALUES ($1, 'legacy@example.com', 'argon2-hash', now())`, [ids.user])
      await client.query(`INSERT INTO public.token_families (id, user_id, expires_at, ip) VALUES ($1, $2, ${month}, '192.0.2.1')`, [ids.family, ids.user])
      await client.query(`INSERT INTO public.refresh_tokens (id, token_hash, family_id, expires_at, spent_at) VALUES ($1, repeat('a', 64), $2, ${month}, now())`, [ids.token1, ids.family])
      await client.query(`INSERT INTO public.refresh_tokens (id, token_hash, family_id, parent_id, expires_at) VALUES ($1, repeat('b', 64), $2, $3, ${month})`, [ids.token2, ids.family, ids.token1])
      await client.query(`INSERT INTO public.audit_events (id, user_id, family_id, type) VALUES ($1, $2, $3, 'login')`, [ids.event, ids.user, ids.family])
      await client.query(`INSERT INTO public.login_attempts (key, failures, last_failure_at) VALUES (repeat('c', 64), 3, now())`)
      await client.query(`INSERT INTO public.rate_limit_counters (key, count, expires_at) VALUES (repeat('d', 64), 2, now() + interval '1 minute')`)
    } finally {
      await client.end()
    }
  }

  /** every row of every table of ours in `schema`, as JSON text */
  async function contents(url: string, schema: string): Promise<Record<string, string[]>> {
    const out: Record<string, string[]> = {}
    for (const table of TABLES) {
      out[table] = (await query<{ r: string }>(url, `SELECT row_to_json(t)::text AS r FROM ${schema}.${table} t ORDER BY 1`)).map((x) => x.r)
    }
    return out
  }

  async function freshShape(): Promise<string[]> {
    const url = await freshDb()
    await migrate(url)
    return shapeOf(url, 'auth')
  }

  it('moves the tables with their data, and our bookkeeping, into auth; nothing of ours is left in public', async () => {
    const url = await freshDb()
    const legacyNames = await migrateAsPreviousVersion(url)
    expect(legacyNames.at(-1)).toBe(LAST_PUBLIC_MIGRATION)
    await seed(url)
    const data = await contents(url, 'public')
    expect(Object.values(data).every((rows) => rows.length > 0)).toBe(true)
    const legacyRows = await rowsOf(url, 'public."_prisma_migrations"')
    const newer = [...(await migrationsOnDisk()).keys()].filter((n) => !legacyNames.includes(n))
    expect(newer.length).toBeGreaterThan(0)

    // Several instances of the new version starting at once: one adopts and moves, the others
    // find it done.
    const results = await Promise.all([migrate(url), migrate(url), migrate(url)])
    expect(results.flatMap((r) => r.applied)).toEqual(newer)
    for (const r of results) expect([...r.applied, ...r.alreadyApplied].sort()).toEqual([...legacyNames, ...newer].sort())

    // Columns that later migrations added are there too, holding what a moved row gets: null,
    // or the column's default.
    const ADDED_LATER: Record<string, unknown> = { email_verified_at: null, claims: {} }
    const moved = await contents(url, 'auth')
    const withoutLater = (c: Record<string, string[]>) =>
      Object.fromEntries(Object.entries(c).map(([t, rows]) => [t, rows.map((r) => JSON.parse(r) as Record<string, unknown>).map((r) => {
        for (const [col, value] of Object.entries(ADDED_LATER)) if (col in r) expect(r[col], `${t}.${col}`).toEqual(value)
        return JSON.stringify(Object.fromEntries(Object.entries(r).filter(([k]) => !(k in ADDED_LATER))))
      })]))
    expect(withoutLater(moved)).toEqual(withoutLater(data))
    expect(await objectsIn(url, 'public')).toEqual([])
    // The moved tables are what a new database gets: indexes, keys and defaults went along.
    expect(await shapeOf(url, 'auth')).toEqual(await freshShape())

    // The previous version's rows moved as they were (ids, checksums, timestamps).
    const rows = await rowsOf(url)
    expect(rows.filter((r) => legacyNames.includes(r.migration_name))).toEqual(legacyRows)
    expect(rows.filter((r) => !legacyNames.includes(r.migration_name)).map((r) => r.migration_name)).toEqual(newer)

    // And the foreign keys still tie them together.
    await query(url, `DELETE FROM auth.users WHERE id = $1`, [ids.user])
    for (const table of ['token_families', 'refresh_tokens', 'audit_events']) {
      expect(await query(url, `SELECT 1 FROM auth.${table}`), table).toEqual([])
    }
  })

  it("leaves a host's own rows in public._prisma_migrations, and its tables, where they are", async () => {
    const url = await freshDb()
    const legacyNames = await migrateAsPreviousVersion(url)
    // A host whose Prisma shared public._prisma_migrations with ours.
    await query(url, `CREATE TABLE public.host_widgets (id serial PRIMARY KEY, name text NOT NULL); INSERT INTO public.host_widgets (name) VALUES ('sprocket')`)
    for (const name of ['20250101000000_host_init', '20250102000000_host_widgets']) {
      await query(
        url,
        `INSERT INTO public."_prisma_migrations" (id, checksum, migration_name, started_at, finished_at, applied_steps_count)
         VALUES ($1, $2, $3, now(), now(), 1)`,
        [randomUUID(), createHash('sha256').update(name).digest('hex'), name],
      )
    }
    const hostRows = (await rowsOf(url, 'public."_prisma_migrations"')).filter((r) => !legacyNames.includes(r.migration_name))
    expect(hostRows).toHaveLength(2)

    await migrate(url)
    expect(await rowsOf(url, 'public."_prisma_migrations"')).toEqual(hostRows)
    expect((await rowsOf(url)).map((r) => r.migration_name)).toEqual([...(await migrationsOnDisk()).keys()])
    expect(await query(url, `SELECT name FROM public.host_widgets`)).toEqual([{ name: 'sprocket' }])
    expect(await objectsIn(url, 'public')).toEqual([
      'S host_widgets_id_seq',
      'i _prisma_migrations_pkey',
      'i host_widgets_pkey',
      'r _prisma_migrations',
      'r host_widgets',
    ])

    // The next start finds nothing more of ours there and leaves the host's table alone.
    await migrate(url)
    expect(await rowsOf(url, 'public."_prisma_migrations"')).toEqual(hostRows)
  })

  it('catches up a database the previous version left several migrations behind', async () => {
    const url = await freshDb()
    const legacyNames = await migrateAsPreviousVersion(url, '20261128000000_login_attempts_audit_events')
    await query(url, `INSERT INTO public.users (id, email, password_hash, updated_at) VALUES ($1, 'old@example.com', 'h', now())`, [ids.user])

    const all = [...(await migrationsOnDisk()).keys()]
    expect(await migrate(url)).toEqual({ applied: all.filter((n) => !legacyNames.includes(n)), alreadyApplied: legacyNames })
    expect(await query(url, `SELECT email, credentials_version FROM auth.users`)).toEqual([{ email: 'old@example.com', credentials_version: 0 }])
    expect(await objectsIn(url, 'public')).toEqual([])
    expect(await shapeOf(url, 'auth')).toEqual(await freshShape())
  })
})
