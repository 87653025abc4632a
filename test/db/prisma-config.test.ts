// Prisma's CLI (`prisma migrate status`, `migrate resolve`, on machines that have its schema
// engine) finds its bookkeeping in the first schema of the search path, which it sets from the
// `schema` parameter of its connection string. Ours is auth._prisma_migrations, so
// prisma.config.ts must hand the CLI a URL that says schema=auth. The config is loaded here the
// way the CLI loads it, with Prisma's own loader.
import { loadConfigFromFile } from '@prisma/config'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestDatabase } from '../helpers/database.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

const ENV_NAMES = ['DATABASE_URL', 'DATA_DIR', 'EMBEDDED_PG_PORT'] as const

/** The datasource URL the CLI would use with this environment. */
async function cliUrl(env: Partial<Record<(typeof ENV_NAMES)[number], string>>): Promise<string> {
  const saved = Object.fromEntries(ENV_NAMES.map((name) => [name, process.env[name]]))
  try {
    for (const name of ENV_NAMES) {
      if (env[name] === undefined) delete process.env[name]
      else process.env[name] = env[name]
    }
    const { config, error } = await loadConfigFromFile({ configFile: join(ROOT, 'prisma.config.ts'), configRoot: ROOT })
    if (error) throw new Error(`prisma.config.ts did not load: ${JSON.stringify(error)}`)
    const url = (config.datasource as { url?: string } | undefined)?.url
    if (!url) throw new Error('prisma.config.ts has no datasource url')
    return url
  } finally {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name]
      else process.env[name] = value
    }
  }
}

/** the URL without its schema parameter, to compare the rest of it */
function withoutSchema(url: string): string {
  const u = new URL(url)
  u.searchParams.delete('schema')
  return u.toString()
}

let emptyDataDir: string
beforeAll(async () => {
  emptyDataDir = await mkdtemp(join(tmpdir(), 'prisma-config-'))
})
afterAll(async () => {
  await rm(emptyDataDir, { recursive: true, force: true })
})

describe('prisma.config.ts points the Prisma CLI at schema auth', () => {
  it('adds schema=auth to DATABASE_URL, and keeps the rest of it', async () => {
    const given = 'postgresql://app:p%40ss%2Fword@db.internal:6543/product?sslmode=require&connect_timeout=5'
    const url = await cliUrl({ DATABASE_URL: given })
    expect(new URL(url).searchParams.get('schema')).toBe('auth')
    expect(withoutSchema(url)).toBe(given)
    expect(new URL(url).password).toBe('p%40ss%2Fword')
  })

  it('overrides a schema the URL names already (a DATABASE_URL shared with a host that says public)', async () => {
    const url = await cliUrl({ DATABASE_URL: 'postgresql://app@db.internal/product?schema=public' })
    expect(new URL(url).searchParams.getAll('schema')).toEqual(['auth'])
  })

  it('says schema=auth for the embedded PostgreSQL too (no DATABASE_URL)', async () => {
    const url = await cliUrl({ DATA_DIR: emptyDataDir, EMBEDDED_PG_PORT: '54399' })
    expect(new URL(url).searchParams.get('schema')).toBe('auth')
    expect(new URL(url).port).toBe('54399')
  })

  it('with that URL, the search path Prisma sets finds our bookkeeping, not a host’s', async () => {
    const db = await createTestDatabase()
    const client = new pg.Client({ connectionString: db.url })
    await client.connect()
    try {
      // A host's own Prisma bookkeeping in public, as in a shared database.
      await client.query(`CREATE TABLE public."_prisma_migrations" (migration_name varchar(255) NOT NULL)`)
      await client.query(`INSERT INTO public."_prisma_migrations" VALUES ('20250101000000_host_init')`)
      const schema = new URL(await cliUrl({ DATABASE_URL: db.url })).searchParams.get('schema')!
      await client.query(`SET search_path TO ${client.escapeIdentifier(schema)}`)
      const { rows } = await client.query<{ migration_name: string }>(`SELECT migration_name FROM "_prisma_migrations" ORDER BY 1`)
      expect(rows.length).toBeGreaterThan(0)
      expect(rows.map((r) => r.migration_name)).not.toContain('20250101000000_host_init')
      expect(rows.map((r) => r.migration_name)).toContain('20261127040000_init')
    } finally {
      await client.end()
      await db.drop()
    }
  })
})
