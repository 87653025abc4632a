// Two instances whose statements go through a real PgBouncer in transaction-pooling mode, with
// LISTEN on a direct connection (DATABASE_DIRECT_URL), as docs/scaling.md sets it up. What
// must hold there as on a direct connection: racing refreshes of one token on both instances
// get one child, a logout on one is refused on the other within a second, the protected path
// sends nothing, and a password change (an interactive transaction) keeps its guarantees.
import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildServer } from '../../src/server/app.js'
import { metricValue, settledStatements, testConfig } from '../helpers/app.js'
import { adminQuery, createTestDatabase } from '../helpers/database.js'
import { me, post, signup, timeUntil } from '../helpers/instances.js'
import { benchSecrets, startServer } from '../../bench/lib/server.js'
import { pgbouncerBinary, pgbouncerRequired, startPgBouncer, type PgBouncer } from '../helpers/pgbouncer.js'

const binary = pgbouncerBinary()

describe.skipIf(!binary && !pgbouncerRequired)('two instances through PgBouncer (transaction pooling), LISTEN direct', () => {
  let db: { url: string; drop(): Promise<void> }
  let bouncer: PgBouncer
  const apps: FastifyInstance[] = []
  const bases: string[] = []
  const logs: string[] = []

  beforeAll(async () => {
    if (!binary) throw new Error('pgbouncer is not installed (REQUIRE_PGBOUNCER=1: CI installs it before the suite)')
    db = await createTestDatabase()
    // The timeouts a pooled connection cannot set for itself, on the database as an operator
    // would set them on the role.
    const name = new URL(db.url).pathname.slice(1)
    await adminQuery(`ALTER DATABASE ${name} SET lock_timeout = '2s'`)
    await adminQuery(`ALTER DATABASE ${name} SET statement_timeout = '5s'`)
    bouncer = await startPgBouncer(db.url, 4)
    // The catch-up query is kept out of the way: revocations must arrive by NOTIFY, on the
    // direct connection, and the statement counts stay the requests' own.
    const config = testConfig({ DATABASE_DIRECT_URL: db.url, DB_POOL_SIZE: '10', DENYLIST_SYNC_INTERVAL_MS: '60000', LOG_LEVEL: 'warn' })
    for (let i = 0; i < 2; i++) {
      const app = await buildServer({ config, databaseUrl: bouncer.url, logStream: { write: (l: string) => void logs.push(l) } })
      await app.listen({ host: '127.0.0.1', port: 0 })
      apps.push(app)
      bases.push(`http://127.0.0.1:${(app.server.address() as AddressInfo).port}`)
    }
  })
  afterAll(async () => {
    await Promise.all(apps.map((a) => a.close()))
    await bouncer?.stop()
    await db?.drop()
  })

  it('their statements go through PgBouncer, and only LISTEN goes direct', async () => {
    await signup(bases[0]!)
    const admin = new pg.Client({ connectionString: bouncer.adminUrl })
    await admin.connect()
    try {
      const stats = (await admin.query('SHOW STATS')).rows as { database: string; total_xact_count: string }[]
      const ours = stats.find((s) => s.database === new URL(db.url).pathname.slice(1))
      expect(Number(ours?.total_xact_count)).toBeGreaterThan(3)
    } finally {
      await admin.end()
    }
    const listeners = await adminQuery<{ n: string }>(
      `SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'fastify-auth-listener'`,
      [],
      db.url,
    )
    expect(Number(listeners[0]!.n)).toBe(2)
    // With the role's timeouts set, no warning about them.
    expect(logs.filter((l) => l.includes('_timeout is off'))).toEqual([])
  })

  it('racing refreshes of one token on both instances: every caller gets 200 and the same child', async () => {
    for (let trial = 0; trial < 10; trial++) {
      const s = await signup(bases[0]!)
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => post(bases[i % 2]!, '/auth/refresh', { refresh_token: s.refreshToken })))
      expect(results.map((r) => r.status), JSON.stringify(results.find((r) => r.status !== 200)?.json)).toEqual(Array(10).fill(200))
      expect(new Set(results.map((r) => r.json.refresh_token)).size).toBe(1)
      const [fam] = await adminQuery<{ revoked_at: Date | null }>('SELECT revoked_at FROM auth.token_families WHERE id = $1', [s.sid], db.url)
      expect(fam!.revoked_at).toBeNull()
    }
  })

  it('a logout on A is refused on B within one second, and B checks it without a statement', async () => {
    const s = await signup(bases[0]!)
    expect((await me(bases[1]!, s.accessToken)).status).toBe(200)
    // (the audit rows of earlier requests are written in a batch up to 50 ms later)
    const before = await settledStatements(apps[1]!)
    for (let i = 0; i < 50; i++) expect((await me(bases[1]!, s.accessToken)).status).toBe(200)
    expect(await metricValue(apps[1]!, 'auth_db_statements_total')).toBe(before)
    expect((await post(bases[0]!, '/auth/logout', undefined, { authorization: `Bearer ${s.accessToken}` })).status).toBe(204)
    const ms = await timeUntil(async () => (await me(bases[1]!, s.accessToken)).status === 401, 1000)
    expect(ms).toBeLessThan(1000)
  })

  it('a password change (one interactive transaction) revokes the other sessions, felt on both instances', async () => {
    const s = await signup(bases[0]!)
    const other = await post(bases[1]!, '/auth/login', { email: s.email, password: s.password })
    expect(other.status).toBe(200)
    const changed = await post(
      bases[0]!,
      '/auth/password',
      { current_password: s.password, new_password: 'another good password 7', refresh_token: s.refreshToken },
      { authorization: `Bearer ${s.accessToken}` },
    )
    expect(changed.status).toBe(200)
    await timeUntil(async () => (await me(bases[1]!, other.json.access_token)).status === 401, 1000)
    expect((await me(bases[1]!, changed.json.access_token)).status).toBe(200)
    expect((await post(bases[1]!, '/auth/refresh', { refresh_token: other.json.refresh_token })).status).toBe(401)
  })

  it('the server process started as production runs it: migrates over the direct URL, serves through the pooler', async () => {
    const fresh = await createTestDatabase({ migrate: false })
    const pooled = new URL(bouncer.url)
    pooled.pathname = new URL(fresh.url).pathname
    const server = await startServer({ ...benchSecrets(), DATABASE_URL: pooled.toString(), DATABASE_DIRECT_URL: fresh.url }, { capture: true })
    try {
      const s = await signup(server.base)
      expect((await me(server.base, s.accessToken)).status).toBe(200)
      const applied = await adminQuery<{ n: string }>('SELECT count(*) AS n FROM auth._prisma_migrations WHERE finished_at IS NOT NULL', [], fresh.url)
      expect(Number(applied[0]!.n)).toBeGreaterThanOrEqual(6)
    } finally {
      expect(await server.stop()).toBe(0)
      await fresh.drop()
    }
  })

  it('without timeouts on the role, the instance says so when it starts', async () => {
    const bare = await createTestDatabase()
    const lines: string[] = []
    const pooled = new URL(bouncer.url)
    pooled.pathname = new URL(bare.url).pathname
    const app = await buildServer({
      config: testConfig({ DATABASE_DIRECT_URL: bare.url, LOG_LEVEL: 'warn' }),
      databaseUrl: pooled.toString(),
      logStream: { write: (l: string) => void lines.push(l) },
    })
    try {
      await app.ready()
      const warning = lines.find((l) => l.includes('_timeout is off'))
      expect(warning).toContain('lock_timeout')
      expect(warning).toContain('ALTER ROLE')
    } finally {
      await app.close()
      await bare.drop()
    }
  })
})
