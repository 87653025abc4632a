// PostgreSQL stops in the middle of a run and comes back. The access path keeps answering
// from the token alone; everything that needs the database answers 503 with Retry-After,
// quickly, and changes nothing; when the database returns, the service recovers without a
// restart. Uses its own embedded PostgreSQL so the test can stop and start it.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildApp } from '../../src/app.js'
import { freePort, startEmbeddedPostgres, type EmbeddedDatabase } from '../../src/db/embedded.js'
import { migrate } from '../../src/db/migrate.js'
import { testConfig } from '../helpers/app.js'
import { loginBearer, refreshJson, register } from '../helpers/flows.js'

let dataDir: string
let port: number
let pg: EmbeddedDatabase
let app: FastifyInstance

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'auth-outage-pg-'))
  port = await freePort()
  pg = await startEmbeddedPostgres({ dataDir, port })
  await migrate(pg.url)
  app = await buildApp({ config: testConfig({ DB_LOCK_TIMEOUT_MS: '1000' }), databaseUrl: pg.url })
  await app.ready()
}, 60_000)

afterAll(async () => {
  await app?.close()
  await pg?.stop()
  await rm(dataDir, { recursive: true, force: true })
})

async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = Date.now()
  const value = await fn()
  return { ms: Date.now() - t0, value }
}

async function eventually(check: () => Promise<boolean>, limitMs: number) {
  const until = Date.now() + limitMs
  while (Date.now() < until) {
    if (await check()) return
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`not recovered within ${limitMs} ms`)
}

describe('PostgreSQL stops mid-run', () => {
  it('keeps /me up, answers 503 elsewhere without hanging, and recovers when it returns', async () => {
    const user = await register(app)
    const s = await loginBearer(app, user.email, user.password)
    const other = await loginBearer(app, user.email, user.password)

    await pg.stop()

    // The access path needs no database.
    const me = await app.inject({ url: '/me', headers: { authorization: `Bearer ${s.accessToken}` } })
    expect(me.statusCode).toBe(200)

    const calls = {
      login: () => app.inject({ method: 'POST', url: '/auth/login', payload: { email: user.email, password: user.password } }),
      register: () => app.inject({ method: 'POST', url: '/auth/register', payload: { email: `x${Date.now()}@example.com`, password: 'correct horse battery' } }),
      refresh: () => refreshJson(app, s.refreshToken),
      logoutByRefresh: () => app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: other.refreshToken } }),
      logoutByAccess: () => app.inject({ method: 'POST', url: '/auth/logout', headers: { authorization: `Bearer ${other.accessToken}` } }),
    }
    for (const [name, call] of Object.entries(calls)) {
      const { ms, value: res } = await timed(call)
      expect(res.statusCode, `${name}: ${res.body}`).toBe(503)
      expect(res.json().error).toBe('service_unavailable')
      expect(res.headers['retry-after']).toBe('1')
      // Bounded by the connect timeout (DB_LOCK_TIMEOUT_MS), never an open-ended hang.
      expect(ms, name).toBeLessThan(5_000)
    }

    pg = await startEmbeddedPostgres({ dataDir, port })

    // Nothing changed while the database was away: the same refresh token still rotates,
    // and the session logged out "during" the outage is still alive.
    await eventually(async () => (await refreshJson(app, s.refreshToken)).statusCode === 200, 15_000)
    const meOther = await app.inject({ url: '/me', headers: { authorization: `Bearer ${other.accessToken}` } })
    expect(meOther.statusCode).toBe(200)
    expect((await app.inject({ method: 'POST', url: '/auth/login', payload: { email: user.email, password: user.password } })).statusCode).toBe(200)

    // The denylist listener reconnected: a logout now reaches /me at once.
    expect((await app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: other.refreshToken } })).statusCode).toBe(204)
    const after = await app.inject({ url: '/me', headers: { authorization: `Bearer ${other.accessToken}` } })
    expect(after.json().error).toBe('session_revoked')
  })
})
