// What a new user gets from `npm start` with no DATABASE_URL and no .env: src/server.ts in its
// own process starts an embedded PostgreSQL in the data folder, migrates it and serves; a
// second instance on the same folder attaches to it; after both stop, a restart finds the
// accounts and sessions where they were.
import { existsSync } from 'node:fs'
import { chmod, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { freePort } from '../../src/db/embedded.js'
import { benchSecrets, startServer, type ServerProcess } from '../../bench/lib/server.js'
import { get, post } from '../helpers/instances.js'

let dataDir: string
let pgPort: number
const running: ServerProcess[] = []

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'auth-zero-config-'))
  // mkdtemp makes it 0700; run as root, the embedded server's own `postgres` user must be able
  // to reach the folder inside, as it can in a checkout's .data (made 0755 by the server).
  await chmod(dataDir, 0o755)
  pgPort = await freePort()
})
afterAll(async () => {
  for (const server of running.reverse()) await server.stop()
  await rm(dataDir, { recursive: true, force: true })
})

// Exactly a fresh machine's environment as far as this project is concerned: no DATABASE_URL
// (even when the suite itself runs on one), no secrets, no NODE_ENV.
async function start(): Promise<ServerProcess> {
  const server = await startServer(
    {
      DATA_DIR: dataDir,
      EMBEDDED_PG_PORT: String(pgPort),
      ...Object.fromEntries(['DATABASE_URL', 'NODE_ENV', 'JWT_PRIVATE_KEY', 'JWT_SECRET', 'REFRESH_TOKEN_SECRET', 'SMTP_URL', 'MAIL_FROM', 'EMAIL_VERIFICATION', 'LOG_LEVEL'].map((name) => [name, undefined])),
    },
    { capture: true },
  )
  running.push(server)
  return server
}

describe('npm start with nothing configured', () => {
  it('serves on an embedded PostgreSQL kept in the data folder; a second instance attaches; data survives a restart', async () => {
    const first = await start()
    expect(first.output()).toMatch(/embedded Postgres started in \d+ ms on port \d+/)
    expect(existsSync(join(dataDir, 'postgres', 'PG_VERSION'))).toBe(true)
    expect(existsSync(join(dataDir, 'dev-secrets.json'))).toBe(true)
    expect((await get(first.base, '/health/ready')).status).toBe(200)

    const user = { email: `zero-${Date.now()}@example.com`, password: 'correct horse battery' }
    expect((await post(first.base, '/auth/register', user)).status).toBe(202)
    // No SMTP_URL outside production: the verification mail is a log line with its link.
    await vi.waitFor(() => expect(first.output()).toMatch(/development log transport.*verify-email\?token=[A-Za-z0-9_-]{43}/), { timeout: 5000 })
    const login = await post(first.base, '/auth/login', user)
    expect(login.status).toBe(200)

    // Same folder, second process: the same database and the same keys.
    const second = await start()
    expect(second.output()).toMatch(/embedded Postgres already running on port \d+/)
    expect((await get(second.base, '/auth/me', { authorization: `Bearer ${login.json.access_token}` })).status).toBe(200)
    const rotated = await post(second.base, '/auth/refresh', { refresh_token: login.json.refresh_token })
    expect(rotated.status).toBe(200)

    // Both stop cleanly (the first owns the embedded server and stops it last).
    expect(await second.stop()).toBe(0)
    expect(await first.stop()).toBe(0)

    const third = await start()
    expect(third.output()).toMatch(/embedded Postgres started in \d+ ms/)
    expect((await post(third.base, '/auth/login', user)).status).toBe(200)
    expect((await post(third.base, '/auth/refresh', { refresh_token: rotated.json.refresh_token })).status).toBe(200)
    // The access token signed before the restart still verifies: the dev key was kept too.
    expect((await get(third.base, '/auth/me', { authorization: `Bearer ${rotated.json.access_token}` })).status).toBe(200)
    expect(await third.stop()).toBe(0)
  }, 120_000)
})

describe('NODE_ENV=production with no DATABASE_URL', () => {
  // Strong secrets, so the database is the only thing missing.
  it('refuses to start, naming DATABASE_URL and the opt-in, and starts no database', async () => {
    const prodDir = join(dataDir, 'production')
    const attempt = startServer({
      DATA_DIR: prodDir,
      EMBEDDED_PG_PORT: String(pgPort),
      DATABASE_URL: undefined,
      EMBEDDED_POSTGRES_IN_PRODUCTION: undefined,
      ...benchSecrets(),
    }, { capture: true })
    // Should it start after all, it must still be stopped with the rest.
    void attempt.then((server) => running.push(server), () => {})
    await expect(attempt).rejects.toThrow(/server exited with 1 before listening[\s\S]*DATABASE_URL[\s\S]*EMBEDDED_POSTGRES_IN_PRODUCTION=true/)
    expect(existsSync(join(prodDir, 'postgres'))).toBe(false)
  }, 60_000)
})
