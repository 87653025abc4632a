// Logout must reach every instance within a second, while the protected path stays free of
// database queries. Two real instances on one database.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { adminQuery } from '../helpers/database.js'
import { me, post, signup, startCluster, timeUntil, type Cluster } from '../helpers/instances.js'


describe('revocation reaches every instance (LISTEN/NOTIFY)', () => {
  let cluster: Cluster
  beforeAll(async () => {
    // A catch-up interval far beyond the test: only notifications can deliver in time.
    cluster = await startCluster(2, { DENYLIST_SYNC_INTERVAL_MS: '60000' })
  })
  afterAll(() => cluster.close())

  it('logout on A: the access token fails on B within one second', async () => {
    const [a, b] = cluster.instances.map((i) => i.base) as [string, string]
    const s = await signup(a)
    expect((await me(b, s.accessToken)).status).toBe(200)
    expect((await post(a, '/auth/logout', { refresh_token: s.refreshToken })).status).toBe(204)
    await timeUntil(async () => (await me(b, s.accessToken)).json?.error === 'session_revoked', 1000)
  })

  it('reuse detected on B: the access token fails on A within one second', async () => {
    const [a, b] = cluster.instances.map((i) => i.base) as [string, string]
    const s = await signup(a)
    const child = (await post(b, '/auth/refresh', { refresh_token: s.refreshToken })).json.access_token as string
    await adminQuery(`UPDATE refresh_tokens SET created_at = created_at - interval '1 minute' WHERE family_id = $1`, [s.sid], cluster.databaseUrl)
    expect((await post(b, '/auth/refresh', { refresh_token: s.refreshToken })).json.error).toBe('refresh_token_reused')
    await timeUntil(async () => (await me(a, child)).status === 401, 1000)
  })

  it('checking a revoked token costs no database query on the instance that refuses it', async () => {
    const [a, b] = cluster.instances as [(typeof cluster.instances)[0], (typeof cluster.instances)[0]]
    const s = await signup(a.base)
    await post(a.base, '/auth/logout', { refresh_token: s.refreshToken })
    await timeUntil(async () => (await me(b.base, s.accessToken)).status === 401, 1000)
    // B still holds the audit row of the previous test's refresh, written in a batch up to
    // 50 ms later; that statement is not the protected path's, so it goes in before counting.
    await b.app.audit.settled()
    const before = b.app.db.queryCount()
    for (let i = 0; i < 20; i++) expect((await me(b.base, s.accessToken)).status).toBe(401)
    expect(b.app.db.queryCount()).toBe(before)
  })
})

describe('a lost listener connection leaves no hole', () => {
  let cluster: Cluster
  beforeAll(async () => {
    cluster = await startCluster(2, { DENYLIST_SYNC_INTERVAL_MS: '250' })
  })
  afterAll(() => cluster.close())

  it('B\'s listener is killed; a logout on A still reaches B within one second, and B listens again', async () => {
    const [a, b] = cluster.instances as [(typeof cluster.instances)[0], (typeof cluster.instances)[0]]
    const s = await signup(a.base)
    const listener = b.app.denylist.listenerClient
    expect(listener).not.toBeNull()
    const pid = (listener as unknown as { processID: number }).processID
    await adminQuery('SELECT pg_terminate_backend($1)', [pid], cluster.databaseUrl)
    // Revoke right away, while B has no listener: only the catch-up query can tell B.
    expect((await post(a.base, '/auth/logout', { refresh_token: s.refreshToken })).status).toBe(204)
    await timeUntil(async () => (await me(b.base, s.accessToken)).json?.error === 'session_revoked', 1000)
    // And the listener comes back by itself.
    await timeUntil(async () => {
      const l = b.app.denylist.listenerClient as unknown as { processID: number } | null
      return l !== null && l.processID !== pid
    }, 5000)
  })
})
