// PostgreSQL stops in the middle of a run and comes back. The access path keeps answering
// from the token alone; everything that needs the database answers 503 with Retry-After,
// quickly, and changes nothing; when the database returns, the service recovers without a
// restart. Uses its own embedded PostgreSQL so the test can stop and start it.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildServer } from '../../src/server/app.js'
import { freePort, startEmbeddedPostgres, type EmbeddedDatabase } from '../../src/db/embedded.js'
import { migrate } from '../../src/db/migrate.js'
import { testConfig } from '../helpers/app.js'
import { loginBearer, refreshJson, register, rememberDatabase } from '../helpers/flows.js'

let dataDir: string
let port: number
let pg: EmbeddedDatabase
let app: FastifyInstance

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'auth-outage-pg-'))
  port = await freePort()
  pg = await startEmbeddedPostgres({ dataDir, port })
  await migrate(pg.url)
  // Clients here refresh back to back, far past the per-session limit of a real client; the
  // limit is raised so that the only answers besides 200 are the outage's.
  app = await buildServer({ config: testConfig({ DB_LOCK_TIMEOUT_MS: '1000', RATE_LIMIT_REFRESH_PER_SESSION: '100000' }), databaseUrl: pg.url })
  rememberDatabase(app, pg.url)
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
    const me = await app.inject({ url: '/auth/me', headers: { authorization: `Bearer ${s.accessToken}` } })
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
    const meOther = await app.inject({ url: '/auth/me', headers: { authorization: `Bearer ${other.accessToken}` } })
    expect(meOther.statusCode).toBe(200)
    expect((await app.inject({ method: 'POST', url: '/auth/login', payload: { email: user.email, password: user.password } })).statusCode).toBe(200)

    // The denylist listener reconnected: a logout now reaches /me at once.
    expect((await app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: other.refreshToken } })).statusCode).toBe(204)
    const after = await app.inject({ url: '/auth/me', headers: { authorization: `Bearer ${other.accessToken}` } })
    expect(after.json().error).toBe('session_revoked')
  })
})

describe('PostgreSQL stops under concurrent traffic', () => {
  it('requests in flight end in 200 or 503 within the timeout, and every client is still logged in afterwards', async () => {
    const CLIENTS = 12
    const clients = await Promise.all(
      Array.from({ length: CLIENTS }, async () => {
        const user = await register(app)
        return { user, held: await loginBearer(app, user.email, user.password) }
      }),
    )
    const answers: { what: string; status: number; ms: number }[] = []
    let running = true
    // Each client refreshes in a loop, keeping whatever a 200 hands it, with a /me and, now and
    // then, a login between: the traffic the outage lands in the middle of.
    const workers = clients.map(async (c, i) => {
      for (let n = 0; running; n++) {
        const r = await timed(() => refreshJson(app, c.held.refreshToken))
        answers.push({ what: 'refresh', status: r.value.statusCode, ms: r.ms })
        if (r.value.statusCode === 200) {
          const body = r.value.json()
          c.held = { ...c.held, accessToken: body.access_token, refreshToken: body.refresh_token }
        }
        const m = await app.inject({ url: '/auth/me', headers: { authorization: `Bearer ${c.held.accessToken}` } })
        answers.push({ what: 'me', status: m.statusCode, ms: 0 })
        if ((n + i) % 5 === 0) {
          const l = await timed(() => app.inject({ method: 'POST', url: '/auth/login', payload: c.user }))
          answers.push({ what: 'login', status: l.value.statusCode, ms: l.ms })
        }
        if (r.value.statusCode === 503) await new Promise((res) => setTimeout(res, 50))
      }
    })
    await new Promise((r) => setTimeout(r, 400))
    await pg.stop()
    await new Promise((r) => setTimeout(r, 800))
    pg = await startEmbeddedPostgres({ dataDir, port })
    await new Promise((r) => setTimeout(r, 1500))
    running = false
    await Promise.all(workers)

    const byStatus = (what: string) => answers.filter((a) => a.what === what).map((a) => a.status)
    console.info(`[outage] ${answers.length} answers: ${JSON.stringify(Object.fromEntries(['refresh', 'login', 'me'].map((w) => [w, countBy(byStatus(w))])))}`)
    // The access path never noticed; the rest said "try again", never a 500, never a logout.
    expect(new Set(byStatus('me'))).toEqual(new Set([200]))
    for (const what of ['refresh', 'login']) expect([...new Set(byStatus(what))].filter((s) => s !== 200 && s !== 503), what).toEqual([])
    expect(byStatus('refresh')).toContain(503)
    expect(Math.max(...answers.map((a) => a.ms))).toBeLessThan(5_000)

    // Every client's token still works: live, or the child of a rotation that committed as the
    // database went away (a replay inside the reuse window returns it again).
    for (const c of clients) {
      let last = 503
      await eventually(async () => {
        const res = await refreshJson(app, c.held.refreshToken)
        last = res.statusCode
        if (res.statusCode === 200) c.held = { ...c.held, accessToken: res.json().access_token, refreshToken: res.json().refresh_token }
        return res.statusCode !== 503
      }, 15_000)
      expect(last, c.user.email).toBe(200)
    }
    const final = await Promise.all(clients.map((c) => app.inject({ url: '/auth/me', headers: { authorization: `Bearer ${c.held.accessToken}` } })))
    expect(final.map((r) => r.statusCode)).toEqual(Array(CLIENTS).fill(200))
  }, 60_000)
})

function countBy(xs: number[]): Record<number, number> {
  const out: Record<number, number> = {}
  for (const x of xs) out[x] = (out[x] ?? 0) + 1
  return out
}
