// The cross-instance guarantees once more with each instance in its own process (src/server.ts
// as production runs it), so nothing can rest on state two apps in one process might share:
// racing holders of one token split across both get one child; a logout on one is refused by
// the other within a second; reuse revokes one family and never the user's others.
import { createHash } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { benchSecrets, startServer, type ServerProcess } from '../../bench/lib/server.js'
import { adminQuery, createTestDatabase } from '../helpers/database.js'
import { me, post, signup, timeUntil } from '../helpers/instances.js'
import { sidOf } from '../helpers/flows.js'

let db: Awaited<ReturnType<typeof createTestDatabase>>
let a: ServerProcess
let b: ServerProcess
beforeAll(async () => {
  db = await createTestDatabase()
  // Shared secrets, as a deployment shares them; a catch-up interval far beyond the tests,
  // so only notifications can carry a revocation in time.
  const env = { DATABASE_URL: db.url, DENYLIST_SYNC_INTERVAL_MS: '60000', ...benchSecrets() }
  ;[a, b] = await Promise.all([startServer(env), startServer(env)])
}, 60_000)
afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()])
  await db?.drop()
})

const sha = (s: string) => createHash('sha256').update(s).digest('hex')
const liveTokens = async (sid: string) =>
  (await adminQuery<{ token_hash: string }>('SELECT token_hash FROM auth.refresh_tokens WHERE family_id = $1 AND spent_at IS NULL', [sid], db.url)).map(
    (r) => r.token_hash,
  )

describe('two server processes on one database', () => {
  it('k=50 holders of one token, split across both: every one gets 200 and the same child', async () => {
    for (let trial = 0; trial < 3; trial++) {
      const s = await signup(a.base)
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) => post(i % 2 === 0 ? a.base : b.base, '/auth/refresh', { refresh_token: s.refreshToken })),
      )
      expect(results.map((r) => r.status), JSON.stringify(results.find((r) => r.status !== 200)?.json)).toEqual(Array(50).fill(200))
      const children = new Set(results.map((r) => r.json.refresh_token as string))
      expect(children.size).toBe(1)
      expect(await liveTokens(s.sid)).toEqual([sha([...children][0]!)])
    }
  }, 60_000)

  it('logout answered by A: B refuses the access token within one second', async () => {
    const s = await signup(a.base)
    expect((await me(b.base, s.accessToken)).status).toBe(200)
    expect((await post(a.base, '/auth/logout', { refresh_token: s.refreshToken })).status).toBe(204)
    const ms = await timeUntil(async () => (await me(b.base, s.accessToken)).json?.error === 'session_revoked', 1000)
    console.info(`[two-processes] logout on A refused on B after ${ms} ms`)
  })

  it('reuse detected on B revokes that family on both; the same user\'s other session lives on', async () => {
    const s = await signup(a.base)
    const other = await post(a.base, '/auth/login', { email: s.email, password: s.password })
    const child = await post(b.base, '/auth/refresh', { refresh_token: s.refreshToken })
    // The parent, presented after the reuse window: theft.
    await adminQuery(`UPDATE auth.refresh_tokens SET created_at = created_at - interval '1 minute' WHERE family_id = $1`, [s.sid], db.url)
    expect((await post(b.base, '/auth/refresh', { refresh_token: s.refreshToken })).json.error).toBe('refresh_token_reused')
    await timeUntil(async () => (await me(a.base, child.json.access_token)).status === 401, 1000)
    expect((await post(a.base, '/auth/refresh', { refresh_token: child.json.refresh_token })).json.error).toBe('session_revoked')

    const [revoked] = await adminQuery<{ revoked_reason: string | null }>('SELECT revoked_reason FROM auth.token_families WHERE id = $1', [sidOf(other.json.access_token)], db.url)
    expect(revoked!.revoked_reason).toBeNull()
    for (const base of [a.base, b.base]) expect((await me(base, other.json.access_token)).status).toBe(200)
    expect((await post(b.base, '/auth/refresh', { refresh_token: other.json.refresh_token })).status).toBe(200)
  })
})
