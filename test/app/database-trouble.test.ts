// Lock contention and timeouts are "try again", never a logout.
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildTestApp, type TestApp } from '../helpers/app.js'
import { adminQuery } from '../helpers/database.js'
import { loginBearer, refreshJson, sidOf } from '../helpers/flows.js'

let t: TestApp
beforeAll(async () => {
  t = await buildTestApp({ env: { DB_LOCK_TIMEOUT_MS: '200' } })
})
afterAll(() => t.close())


describe('refresh while the family row is locked elsewhere', () => {
  it('answers 503 with Retry-After, changes nothing, and works once the lock is gone', async () => {
    const s = await loginBearer(t.app)
    const holder = new pg.Client({ connectionString: t.databaseUrl })
    await holder.connect()
    try {
      await holder.query('BEGIN')
      await holder.query('SELECT 1 FROM auth.token_families WHERE id = $1 FOR UPDATE', [sidOf(s.accessToken)])
      const res = await refreshJson(t.app, s.refreshToken)
      expect(res.statusCode).toBe(503)
      expect(res.headers['retry-after']).toBe('1')
      expect(res.json().error).toBe('service_unavailable')
      await holder.query('ROLLBACK')
    } finally {
      await holder.end()
    }
    const rows = await adminQuery('SELECT spent_at FROM auth.refresh_tokens WHERE family_id = $1', [sidOf(s.accessToken)], t.databaseUrl)
    expect(rows).toEqual([{ spent_at: null }])
    const fam = await adminQuery('SELECT revoked_at FROM auth.token_families WHERE id = $1', [sidOf(s.accessToken)], t.databaseUrl)
    expect(fam).toEqual([{ revoked_at: null }])
    expect((await refreshJson(t.app, s.refreshToken)).statusCode).toBe(200)
  })

  it('a statement timeout also answers 503 and leaves the session usable', async () => {
    const slow = await buildTestApp({ env: { DB_STATEMENT_TIMEOUT_MS: '50', DB_LOCK_TIMEOUT_MS: '5000' } })
    try {
      const s = await loginBearer(slow.app)
      const holder = new pg.Client({ connectionString: slow.databaseUrl })
      await holder.connect()
      await holder.query('BEGIN')
      await holder.query('SELECT 1 FROM auth.token_families WHERE id = $1 FOR UPDATE', [sidOf(s.accessToken)])
      const res = await refreshJson(slow.app, s.refreshToken)
      await holder.query('ROLLBACK')
      await holder.end()
      expect(res.statusCode).toBe(503)
      expect(res.headers['retry-after']).toBe('1')
      expect((await refreshJson(slow.app, s.refreshToken)).statusCode).toBe(200)
    } finally {
      await slow.close()
    }
  })
})
