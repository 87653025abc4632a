// The cleanup job removes what nothing needs any more, in batches, and keeps everything the
// denylist, reuse detection or a user still needs.
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildTestApp, testConfig, type TestApp, settledStatements } from '../helpers/app.js'
import { adminQuery, createTestDatabase } from '../helpers/database.js'
import { loginBearer, refreshJson, register, sidOf } from '../helpers/flows.js'
import { cleanupPlan } from '../../src/jobs/cleanup.js'

let t: TestApp
beforeAll(async () => {
  t = await buildTestApp({ env: { CLEANUP_BATCH_SIZE: '2' } })
})
afterAll(() => t.close())

const q = (sql: string, params: unknown[] = []) => adminQuery(sql, params, t.databaseUrl)
const familyExists = async (sid: string) => (await q('SELECT 1 FROM auth.token_families WHERE id = $1', [sid])).length === 1
const tokensOf = async (sid: string) => Number((await q('SELECT count(*) AS n FROM auth.refresh_tokens WHERE family_id = $1', [sid]))[0]!.n)

describe('what is kept and what goes', () => {
  it('families: revoked or expired long enough ago go (with their tokens); recent revocations stay for the denylist', async () => {
    const user = await register(t.app)
    const live = await loginBearer(t.app, user.email, user.password)
    const justRevoked = await loginBearer(t.app, user.email, user.password)
    const longRevoked = await loginBearer(t.app, user.email, user.password)
    const longExpired = await loginBearer(t.app, user.email, user.password)
    const longIdle = await loginBearer(t.app, user.email, user.password)
    const recentlyIdle = await loginBearer(t.app, user.email, user.password)
    await t.app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: justRevoked.refreshToken } })
    // Access-token lifetime 900 s + retention 7 days = 605700 s.
    await q(`UPDATE auth.token_families SET revoked_at = now() - interval '605800 seconds', revoked_reason = 'logout' WHERE id = $1`, [sidOf(longRevoked.accessToken)])
    await q(`UPDATE auth.token_families SET revoked_at = now() - interval '605600 seconds', revoked_reason = 'logout' WHERE id = $1`, [sidOf(justRevoked.accessToken)])
    await q(`UPDATE auth.token_families SET expires_at = now() - interval '605800 seconds' WHERE id = $1`, [sidOf(longExpired.accessToken)])
    // Idle: refresh lifetime 30 d + window 30 s + 900 s + 7 d = 3197730 s after the last use.
    await q(`UPDATE auth.token_families SET last_used_at = now() - interval '3197800 seconds' WHERE id = $1`, [sidOf(longIdle.accessToken)])
    await q(`UPDATE auth.token_families SET last_used_at = now() - interval '3197600 seconds' WHERE id = $1`, [sidOf(recentlyIdle.accessToken)])

    const result = await t.app.authn.cleanup()
    expect(result.families).toBe(3)
    for (const gone of [longRevoked, longExpired, longIdle]) {
      expect(await familyExists(sidOf(gone.accessToken))).toBe(false)
      expect(await tokensOf(sidOf(gone.accessToken))).toBe(0)
    }
    for (const kept of [live, justRevoked, recentlyIdle]) expect(await familyExists(sidOf(kept.accessToken))).toBe(true)
    expect((await refreshJson(t.app, live.refreshToken)).statusCode).toBe(200)
    // A revoked session's token of a family still kept is still refused as revoked.
    expect((await refreshJson(t.app, justRevoked.refreshToken)).json().error).toBe('session_revoked')
  })

  it('spent tokens go once the retention has passed since they would have expired; until then reuse is still caught', async () => {
    const s = await loginBearer(t.app)
    const sid = sidOf(s.accessToken)
    let token = s.refreshToken
    const spent: string[] = []
    for (let i = 0; i < 5; i++) {
      spent.push(token)
      token = (await refreshJson(t.app, token)).json().refresh_token
    }
    // The three oldest are 7 days past their expiry; the other two are recent.
    await q(
      `UPDATE auth.refresh_tokens SET expires_at = now() - interval '604900 seconds', created_at = now() - interval '40 days'
       WHERE family_id = $1 AND spent_at IS NOT NULL AND id IN (
         SELECT id FROM auth.refresh_tokens WHERE family_id = $1 AND spent_at IS NOT NULL ORDER BY created_at LIMIT 3)`,
      [sid],
    )
    const result = await t.app.authn.cleanup()
    expect(result.spentTokens).toBe(3)
    expect(await tokensOf(sid)).toBe(3) // two spent + the live one
    expect((await refreshJson(t.app, spent[0]!)).json().error).toBe('invalid_refresh_token') // forgotten
    await q(`UPDATE auth.refresh_tokens SET created_at = created_at - interval '1 minute' WHERE family_id = $1`, [sid])
    expect((await refreshJson(t.app, spent[3]!)).json().error).toBe('refresh_token_reused') // still evidence
  })

  it('failed-login counters go after the reset period; audit events after their retention', async () => {
    await q(`INSERT INTO auth.login_attempts (key, failures, last_failure_at) VALUES ($1, 3, now() - interval '2 hours'), ($2, 3, now())`, ['a'.repeat(64), 'b'.repeat(64)])
    const user = await register(t.app)
    await loginBearer(t.app, user.email, user.password)
    await settledStatements(t.app)
    await q(`UPDATE auth.audit_events SET created_at = now() - interval '91 days' WHERE user_id = $1`, [user.id])
    const s = await loginBearer(t.app, user.email, user.password)
    await settledStatements(t.app)

    const result = await t.app.authn.cleanup()
    expect(result.loginAttempts).toBe(1)
    expect(result.auditEvents).toBe(2) // the account's registration and its first login
    expect((await q('SELECT key FROM auth.login_attempts ORDER BY key')).map((r) => r.key)).toEqual(['b'.repeat(64)])
    const left = await q('SELECT family_id FROM auth.audit_events WHERE user_id = $1', [user.id])
    expect(left).toEqual([{ family_id: sidOf(s.accessToken) }])
  })

  it('rate-limit counters go once their window has ended, in batches; live windows stay', async () => {
    const key = (c: string) => c.repeat(64)
    await q(
      `INSERT INTO auth.rate_limit_counters (key, count, expires_at) VALUES
       ($1, 5, now() - interval '1 second'), ($2, 1, now() - interval '1 hour'), ($3, 9, now() - interval '1 day'),
       ($4, 3, now() + interval '1 minute')`,
      [key('c'), key('d'), key('e'), key('f')],
    )
    const result = await t.app.authn.cleanup()
    expect(result.rateLimitCounters).toBe(3)
    // (the other rows are the live windows of this file's own logins and registrations)
    const left = (await q('SELECT key FROM auth.rate_limit_counters WHERE key = ANY($1)', [[key('c'), key('d'), key('e'), key('f')]])).map((r) => r.key)
    expect(left).toEqual([key('f')])
  })

  it('deletes in batches of CLEANUP_BATCH_SIZE until a short batch', async () => {
    const user = await register(t.app)
    const sessions = []
    for (let i = 0; i < 5; i++) sessions.push(await loginBearer(t.app, user.email, user.password))
    await q(`UPDATE auth.token_families SET revoked_at = now() - interval '30 days', revoked_reason = 'logout' WHERE user_id = $1`, [user.id])
    const result = await t.app.authn.cleanup()
    expect(result.families).toBe(5)
    // 2 + 2 + 1 for families, then one short batch each for tokens, login counters,
    // rate-limit counters, events, mail tokens and second-factor challenges.
    expect(result.batches).toBe(9)
  })
})

describe('the plan', () => {
  it('keeps revoked families longer than the denylist looks back, whatever the retention', () => {
    const config = testConfig({ CLEANUP_RETENTION_SEC: '60', ACCESS_TOKEN_TTL: '900', DB_LOCK_TIMEOUT_MS: '2000', DB_STATEMENT_TIMEOUT_MS: '5000' })
    const plan = cleanupPlan(config)
    // The denylist keeps a revocation for the access-token lifetime plus the lock and statement
    // timeouts (907 s), and loads at start what was revoked in that time plus 30 s.
    expect(plan.endedFamilyKeepSec).toBeGreaterThan(907 + 30)
    expect(plan.idleFamilyKeepSec).toBe(config.refresh.ttlSec + config.refresh.reuseWindowSec + 907 + 60)
  })
})

describe('running it', () => {
  it('runs every CLEANUP_INTERVAL_SEC on its own, and closing the app stops it', async () => {
    const periodic = await buildTestApp({ env: { CLEANUP_INTERVAL_SEC: '1' } })
    try {
      const s = await loginBearer(periodic.app)
      const sid = sidOf(s.accessToken)
      await adminQuery(`UPDATE auth.token_families SET revoked_at = now() - interval '30 days' WHERE id = $1`, [sid], periodic.databaseUrl)
      const started = Date.now()
      while ((await adminQuery('SELECT 1 FROM auth.token_families WHERE id = $1', [sid], periodic.databaseUrl)).length > 0) {
        expect(Date.now() - started).toBeLessThan(5000)
        await new Promise((r) => setTimeout(r, 100))
      }
    } finally {
      const closing = Date.now()
      await periodic.close()
      expect(Date.now() - closing).toBeLessThan(5000)
    }
  })

  it('`npm run cleanup` runs it once against DATABASE_URL and prints what it deleted', async () => {
    const user = await register(t.app)
    const s = await loginBearer(t.app, user.email, user.password)
    await q(`UPDATE auth.token_families SET revoked_at = now() - interval '30 days', revoked_reason = 'logout' WHERE id = $1`, [sidOf(s.accessToken)])
    const dataDir = mkdtempSync(join(tmpdir(), 'cleanup-cli-'))
    try {
      const { stdout } = await promisify(execFile)(process.execPath, ['dist/cli/cleanup.js'], {
        env: { ...process.env, NODE_ENV: 'test', DATABASE_URL: t.databaseUrl, DATA_DIR: dataDir },
        timeout: 60_000,
      })
      expect(JSON.parse(stdout.trim())).toEqual({ families: 1, spentTokens: 0, loginAttempts: 0, rateLimitCounters: 0, auditEvents: 0, emailTokens: 0, mfaChallenges: 0, batches: 7 })
      expect(await familyExists(sidOf(s.accessToken))).toBe(false)
    } finally {
      rmSync(dataDir, { recursive: true, force: true })
    }
  })

  it('`npm run cleanup` on a database the server never migrated: exit 2, says why, touches nothing', async () => {
    const empty = await createTestDatabase({ migrate: false })
    const dataDir = mkdtempSync(join(tmpdir(), 'cleanup-cli-'))
    try {
      const run = promisify(execFile)(process.execPath, ['dist/cli/cleanup.js'], {
        env: { ...process.env, NODE_ENV: 'test', DATABASE_URL: empty.url, DATA_DIR: dataDir },
        timeout: 60_000,
      })
      await expect(run).rejects.toMatchObject({ code: 2, stdout: '', stderr: expect.stringMatching(/lacks migrations .*start the server once/) })
      expect(await adminQuery(`SELECT 1 FROM pg_tables WHERE schemaname = 'public'`, [], empty.url)).toEqual([])
    } finally {
      rmSync(dataDir, { recursive: true, force: true })
      await empty.drop()
    }
  })
})
