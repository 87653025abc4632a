// `npm run migrate` (and `npx fastify-auth-migrate` from the package), as a deploy step runs
// it: the compiled command, in production, given a database and nothing else: it needs no keys.
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { adminQuery, createTestDatabase } from '../helpers/database.js'

const run = promisify(execFile)
let db: { url: string; drop(): Promise<void> }
beforeAll(async () => {
  db = await createTestDatabase({ migrate: false })
})
afterAll(() => db.drop())

async function migrateCommand(env: Record<string, string>) {
  try {
    const { stdout, stderr } = await run(process.execPath, ['dist/cli/migrate.js'], { env: { PATH: process.env.PATH!, ...env } })
    return { code: 0, stdout, stderr }
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

it('migrates with DATABASE_URL alone, in production, then finds nothing left to do', async () => {
  const first = await migrateCommand({ NODE_ENV: 'production', DATABASE_URL: db.url })
  expect(first.code, first.stderr).toBe(0)
  const applied = JSON.parse(first.stdout).applied as string[]
  expect(applied.length).toBeGreaterThanOrEqual(6)
  const tables = await adminQuery<{ tablename: string }>(`SELECT tablename FROM pg_tables WHERE schemaname = 'auth' ORDER BY 1`, [], db.url)
  expect(tables.map((t) => t.tablename)).toEqual(expect.arrayContaining(['_prisma_migrations', 'users', 'token_families', 'refresh_tokens']))

  const again = await migrateCommand({ NODE_ENV: 'production', DATABASE_URL: db.url })
  expect(again.code).toBe(0)
  expect(JSON.parse(again.stdout)).toEqual({ applied: [], alreadyApplied: applied })
})

it('with DATABASE_DIRECT_URL (DATABASE_URL goes through a pooler), migrates over the direct connection', async () => {
  const direct = await createTestDatabase({ migrate: false })
  try {
    // A pooled URL that cannot be reached: only the direct one can have done the work.
    const res = await migrateCommand({ NODE_ENV: 'production', DATABASE_URL: 'postgresql://nobody@127.0.0.1:1/pooled', DATABASE_DIRECT_URL: direct.url })
    expect(res.code, res.stderr).toBe(0)
    expect(JSON.parse(res.stdout).applied.length).toBeGreaterThanOrEqual(6)
  } finally {
    await direct.drop()
  }
})

it('in production without DATABASE_URL: exit 2, naming it, and nothing started', async () => {
  const res = await migrateCommand({ NODE_ENV: 'production' })
  expect(res.code).toBe(2)
  expect(res.stderr).toMatch(/DATABASE_URL is required in production/)
  expect(res.stdout).toBe('')
})
