// Logout must reach every instance within a second, while the protected path stays free of
// database queries. Two real instances on one database.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { adminQuery } from '../helpers/database.js'
import { metricValue, settledStatements } from '../helpers/app.js'
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
    await adminQuery(`UPDATE auth.refresh_tokens SET created_at = created_at - interval '1 minute' WHERE family_id = $1`, [s.sid], cluster.databaseUrl)
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
    const before = await settledStatements(b.app)
    for (let i = 0; i < 20; i++) expect((await me(b.base, s.accessToken)).status).toBe(401)
    expect(await metricValue(b.app, 'auth_db_statements_total')).toBe(before)
  })
})

describe('a lost listener connection leaves no hole', () => {
  let cluster: Cluster
  beforeAll(async () => {
    cluster = await startCluster(2, { DENYLIST_SYNC_INTERVAL_MS: '250' })
  })
  afterAll(() => cluster.close())

  // The instances' LISTEN connections, as Postgres sees them.
  const listeners = async () =>
    (
      await adminQuery<{ pid: number }>(
        `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'fastify-auth-listener'`,
        [],
        cluster.databaseUrl,
      )
    ).map((r) => r.pid)

  it('the listeners are killed; a logout on A still reaches B within one second, and both listen again', async () => {
    const [a, b] = cluster.instances as [(typeof cluster.instances)[0], (typeof cluster.instances)[0]]
    const s = await signup(a.base)
    const killed = await listeners()
    expect(killed).toHaveLength(2)
    await adminQuery('SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid', [killed], cluster.databaseUrl)
    // Revoke right away, while B has no listener: only the catch-up query can tell B.
    expect((await post(a.base, '/auth/logout', { refresh_token: s.refreshToken })).status).toBe(204)
    await timeUntil(async () => (await me(b.base, s.accessToken)).json?.error === 'session_revoked', 1000)
    // And the listener comes back by itself.
    await timeUntil(async () => {
      const now = await listeners()
      return now.length === 2 && now.every((pid) => !killed.includes(pid))
    }, 5000)
  })
})

describe('a notification is a hint, never a revocation by itself', () => {
  let cluster: Cluster
  beforeAll(async () => {
    // Only notifications could deliver within the test: the catch-up is a minute away.
    cluster = await startCluster(1, { DENYLIST_SYNC_INTERVAL_MS: '60000' })
  })
  afterAll(() => cluster.close())

  it("a forged notification naming a live session does not log it out; a real logout after it still does", async () => {
    const a = cluster.instances[0]!
    const s = await signup(a.base)
    // Any role that can connect can notify: this one is not the app's revocation.
    await adminQuery('SELECT pg_notify($1, $2)', ['auth_token_family_revoked', s.sid], cluster.databaseUrl)
    await new Promise((r) => setTimeout(r, 300))
    expect((await me(a.base, s.accessToken)).status).toBe(200)

    // A revocation made elsewhere (an operator's statement, another instance) is confirmed and
    // felt within a second.
    await adminQuery(`UPDATE auth.token_families SET revoked_at = clock_timestamp(), revoked_reason = 'admin' WHERE id = $1`, [s.sid], cluster.databaseUrl)
    await adminQuery('SELECT pg_notify($1, $2)', ['auth_token_family_revoked', s.sid], cluster.databaseUrl)
    await timeUntil(async () => (await me(a.base, s.accessToken)).json?.error === 'session_revoked', 1000)
  })

  // Junk must not delay the real thing: a payload that is not a session id, heard in the same
  // batch as a genuine revocation, would make the one confirming query fail, leaving the
  // revocation to the catch-up (a minute here) instead of a second.
  it('junk notified beside a real revocation: the revocation is still felt within a second', async () => {
    const a = cluster.instances[0]!
    const s = await signup(a.base)
    await adminQuery(`UPDATE auth.token_families SET revoked_at = clock_timestamp(), revoked_reason = 'admin' WHERE id = $1`, [s.sid], cluster.databaseUrl)
    await adminQuery('SELECT pg_notify($1, $2), pg_notify($1, $3)', ['auth_token_family_revoked', 'not-a-session-id', s.sid], cluster.databaseUrl)
    await timeUntil(async () => (await me(a.base, s.accessToken)).json?.error === 'session_revoked', 1000)
  })

  it('junk payloads are not stored', async () => {
    const a = cluster.instances[0]!
    const before = await metricValue(a.app, 'auth_denylist_size')
    await adminQuery('SELECT pg_notify($1, $2)', ['auth_token_family_revoked', 'x'.repeat(7000)], cluster.databaseUrl)
    await adminQuery('SELECT pg_notify($1, $2)', ['auth_token_family_revoked', '<script>alert(1)</script>'], cluster.databaseUrl)
    await adminQuery('SELECT pg_notify($1, $2)', ['auth_token_family_revoked', '00000000-0000-0000-0000-000000000000'], cluster.databaseUrl)
    await new Promise((r) => setTimeout(r, 300))
    expect(await metricValue(a.app, 'auth_denylist_size')).toBe(before)
  })
})

describe('a revocation queued behind a rotation is dated after it', () => {
  let cluster: Cluster
  beforeAll(async () => {
    cluster = await startCluster(1, { DB_LOCK_TIMEOUT_MS: '5000' })
  })
  afterAll(() => cluster.close())

  const logouts = {
    'one session (logout by refresh token)': (base: string, s: Awaited<ReturnType<typeof signup>>) => post(base, '/auth/logout', { refresh_token: s.refreshToken }),
    "every session (logout?scope=all)": (base: string, s: Awaited<ReturnType<typeof signup>>) =>
      post(base, '/auth/logout?scope=all', undefined, { authorization: `Bearer ${s.accessToken}` }),
  }
  for (const [what, logout] of Object.entries(logouts)) {
    it(`${what}: revoked_at is taken once the family lock is held, not when the statement began`, async () => {
      const a = cluster.instances[0]!
      const s = await signup(a.base)
      // Hold the family's row as a rotation or a replay would, then let a logout queue behind it.
      const pg = (await import('pg')).default
      const holder = new pg.Client({ connectionString: cluster.databaseUrl })
      await holder.connect()
      try {
        await holder.query('BEGIN')
        await holder.query('SELECT 1 FROM auth.token_families WHERE id = $1 FOR UPDATE', [s.sid])
        const answer = logout(a.base, s)
        await new Promise((r) => setTimeout(r, 700))
        const { rows } = await holder.query<{ released: Date }>('SELECT clock_timestamp() AS released')
        await holder.query('COMMIT')
        expect((await answer).status).toBe(204)
        const [family] = await adminQuery<{ revoked_at: Date }>('SELECT revoked_at FROM auth.token_families WHERE id = $1', [s.sid], cluster.databaseUrl)
        // An access token minted by the request that held the lock expires after the denylist
        // entry unless the entry counts from the release of that lock.
        expect(family!.revoked_at.getTime()).toBeGreaterThanOrEqual(rows[0]!.released.getTime())
      } finally {
        await holder.end()
      }
    })
  }
})
