import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildTestApp, type TestApp, settledStatements, metricValue } from '../helpers/app.js'
import { adminQuery, adminUrl, createTestDatabase } from '../helpers/database.js'

let t: TestApp
beforeAll(async () => {
  // No periodic denylist catch-up during the tests: liveness counts this app's queries.
  t = await buildTestApp({ env: { DENYLIST_SYNC_INTERVAL_MS: '60000' } })
})
afterAll(() => t.close())

describe('GET /health/live', () => {
  it('answers 200 while the process runs', async () => {
    const res = await t.app.inject({ url: '/health/live' })
    expect([res.statusCode, res.json()]).toEqual([200, { status: 'ok' }])
  })
})

describe('GET /health/ready', () => {
  it('answers 200 when the database answers and every migration is applied', async () => {
    const res = await t.app.inject({ url: '/health/ready' })
    expect([res.statusCode, res.json()]).toEqual([200, { status: 'ok' }])
  })

  it('answers 503 service_unavailable when a migration of this build is not applied', async () => {
    const db = await createTestDatabase()
    const app = await buildTestApp({ databaseUrl: db.url })
    try {
      expect((await app.app.inject({ url: '/health/ready' })).statusCode).toBe(200)
      const [last] = await adminQuery<{ migration_name: string }>(
        'SELECT migration_name FROM _prisma_migrations ORDER BY migration_name DESC LIMIT 1',
        [],
        db.url,
      )
      await adminQuery('UPDATE _prisma_migrations SET finished_at = NULL WHERE migration_name = $1', [last!.migration_name], db.url)
      const res = await app.app.inject({ url: '/health/ready' })
      expect(res.statusCode).toBe(503)
      expect(res.json()).toEqual({ error: 'service_unavailable', error_description: expect.any(String) })
      expect(res.headers['retry-after']).toBeDefined()
      // Liveness is about the process, not the database.
      expect((await app.app.inject({ url: '/health/live' })).statusCode).toBe(200)
    } finally {
      await app.close()
      await db.drop()
    }
  })

  it('answers 503 when the database is unreachable, and 200 again when it is back', async () => {
    const db = await createTestDatabase()
    const app = await buildTestApp({ databaseUrl: db.url })
    const name = new URL(db.url).pathname.slice(1)
    try {
      await adminQuery(`ALTER DATABASE ${name} ALLOW_CONNECTIONS false`, [], adminUrl())
      await adminQuery('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [name], adminUrl())
      const res = await app.app.inject({ url: '/health/ready' })
      expect(res.statusCode).toBe(503)
      expect(res.json().error).toBe('service_unavailable')
      await adminQuery(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`, [], adminUrl())
      expect((await app.app.inject({ url: '/health/ready' })).statusCode).toBe(200)
    } finally {
      await adminQuery(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`, [], adminUrl()).catch(() => undefined)
      await app.close()
      await db.drop()
    }
  })

  it('makes no query for liveness', async () => {
    const before = await settledStatements(t.app)
    for (let i = 0; i < 10; i++) await t.app.inject({ url: '/health/live' })
    expect(await metricValue(t.app, 'auth_db_statements_total')).toBe(before)
  })
})
