// What an instance does under load and on its own (logins right and wrong, refreshes, protected
// routes, the denylist's catch-up, the cleanup job) never loads Prisma's query engine, which
// costs about 25 MB resident once it has run a statement (src/db/sql.ts). Seen from outside: a
// server process started as production starts it, with every ES module it loads recorded.
// A logout, which revokes in a Prisma transaction, then loads it: the record does see it.
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { benchSecrets, startServer, type ServerProcess } from '../../bench/lib/server.js'
import { PasswordHasher } from '../../src/auth/password.js'
import { adminQuery, createTestDatabase } from '../helpers/database.js'
import { get, me, post } from '../helpers/instances.js'

const PASSWORD = 'correct horse battery staple'
const EMAIL = 'no-prisma@example.com'
const HOOK = join(import.meta.dirname, '..', 'fixtures', 'record-loaded-modules.mjs')
const QUERY_ENGINE = /@prisma\/client\/runtime\/query_compiler/

let db: Awaited<ReturnType<typeof createTestDatabase>>
let dir: string
let record: string
let server: ServerProcess
beforeAll(async () => {
  db = await createTestDatabase()
  dir = await mkdtemp(join(tmpdir(), 'auth-prisma-free-'))
  record = join(dir, 'loaded.txt')
  // The production cost, as the server hashes by default.
  const hash = await new PasswordHasher({ memoryKiB: 19_456, timeCost: 2, parallelism: 1 }).hash(PASSWORD)
  await adminQuery(`INSERT INTO auth.users (id, email, password_hash, updated_at) VALUES (gen_random_uuid(), $1, $2, now())`, [EMAIL, hash], db.url)
  server = await startServer({
    DATABASE_URL: db.url,
    ...benchSecrets(),
    // every second, so both run within the test
    CLEANUP_INTERVAL_SEC: '1',
    DENYLIST_SYNC_INTERVAL_MS: '200',
    NODE_OPTIONS: `--import ${HOOK}`,
    RECORD_LOADED_MODULES: record,
  })
}, 60_000)
afterAll(async () => {
  await server?.stop()
  await db?.drop()
  await rm(dir, { recursive: true, force: true })
})

const loaded = async () => (await readFile(record, 'utf8')).split('\n').filter(Boolean)

it('logins, refreshes, protected routes, the denylist and cleanup never load Prisma; a logout does', async () => {
  expect(await loaded()).toContainEqual(expect.stringMatching(/dist\/server\/main(\.bundle)?\.js$/))

  expect((await post(server.base, '/auth/login', { email: EMAIL, password: 'wrong password' })).status).toBe(401)
  const login = await post(server.base, '/auth/login', { email: EMAIL, password: PASSWORD })
  expect(login.status).toBe(200)
  expect((await me(server.base, login.json.access_token)).status).toBe(200)
  const refreshed = await post(server.base, '/auth/refresh', { refresh_token: login.json.refresh_token })
  expect(refreshed.status).toBe(200)
  expect((await me(server.base, refreshed.json.access_token)).status).toBe(200)
  expect((await get(server.base, '/health/ready')).status).toBe(200)
  // Let the cleanup job and several catch-ups run, and the audit rows be written.
  await new Promise((r) => setTimeout(r, 2_500))
  const audit = await adminQuery<{ type: string }>(`SELECT type FROM auth.audit_events ORDER BY created_at`, [], db.url)
  expect(audit.map((r) => r.type)).toEqual(expect.arrayContaining(['login_failure', 'login_success', 'refresh']))
  expect((await loaded()).filter((url) => QUERY_ENGINE.test(url))).toEqual([])

  const logout = await post(server.base, '/auth/logout', undefined, { authorization: `Bearer ${refreshed.json.access_token}` })
  expect(logout.status).toBe(204)
  expect((await loaded()).filter((url) => QUERY_ENGINE.test(url)).length).toBeGreaterThan(0)
}, 30_000)
