// What each hot path sends to the database, counted by the plugin's own metric. A successful
// login's audit row goes with its session; a failed one's is written later, in a batch shared
// by every request of those 50 ms: read before the request, and right after its answer, the
// count is the request's alone.
import type { InjectOptions } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildTestApp, metricValue, settledStatements, type TestApp } from '../../helpers/app.js'
import { adminQuery } from '../../helpers/database.js'
import { register, uniqueEmail } from '../../helpers/flows.js'

let t: TestApp
beforeAll(async () => {
  // A sync interval longer than the file keeps the denylist's catch-up out of the counts.
  t = await buildTestApp({ env: { LOGIN_LOCK_AFTER_FAILURES: '1', LOGIN_POW_AFTER_FAILURES: '3', DENYLIST_SYNC_INTERVAL_MS: '60000' } })
})
afterAll(() => t.close())

/** The answer, and the statements sent before it. */
async function counted(request: InjectOptions) {
  const before = await settledStatements(t.app)
  const res = await t.app.inject(request)
  return { res, statements: (await metricValue(t.app, 'auth_db_statements_total')) - before }
}
const login = (email: string, password: string, remoteAddress = '10.1.0.1') =>
  counted({ method: 'POST', url: '/auth/login', payload: { email, password }, remoteAddress })

describe('statements per request', () => {
  it('a successful login: two (the per-address limit and the counters with the account, then the session with the reset)', async () => {
    const user = await register(t.app)
    const { res, statements } = await login(user.email, user.password)
    expect(res.statusCode).toBe(200)
    expect(statements).toBe(2)
    // its audit row is written by the second, and nothing follows
    const rows = await adminQuery('SELECT e.family_id, e.ip FROM auth.audit_events e JOIN auth.users u ON u.id = e.user_id WHERE u.email = $1 AND e.type = $2', [user.email, 'login_success'], t.databaseUrl)
    expect(rows).toEqual([{ family_id: JSON.parse(Buffer.from(res.json().access_token.split('.')[1], 'base64url').toString()).sid, ip: '10.1.0.1' }])
    expect(await settledStatements(t.app)).toBe(await metricValue(t.app, 'auth_db_statements_total'))
    const before = await metricValue(t.app, 'auth_db_statements_total')
    await new Promise((r) => setTimeout(r, 150))
    expect(await metricValue(t.app, 'auth_db_statements_total')).toBe(before)
  })

  it('a wrong password and an unknown address: one each, and the counters say so', async () => {
    const user = await register(t.app)
    const wrong = await login(user.email, 'not the password', '10.1.0.2')
    const unknown = await login(uniqueEmail(), 'not the password', '10.1.0.2')
    expect([wrong.res.statusCode, unknown.res.statusCode]).toEqual([401, 401])
    expect([wrong.statements, unknown.statements]).toEqual([1, 1])
    // The success after them resets what they counted, in its own statement.
    const ok = await login(user.email, user.password, '10.1.0.3')
    expect([ok.res.statusCode, ok.statements]).toEqual([200, 2])
    const left = await adminQuery('SELECT key FROM auth.login_attempts', [], t.databaseUrl)
    expect(left.length).toBeGreaterThan(0) // the unknown address's counters stay
  })

  it('locked, and turned away for want of a proof of work: one each', async () => {
    const user = await register(t.app)
    // One free failure, then a lock for this address; three failures of the account, counted
    // ahead from wherever they came, and the next attempt needs a proof.
    for (const p of ['wrong once', 'wrong twice']) expect((await login(user.email, p, '10.1.0.4')).res.statusCode).toBe(401)
    const locked = await login(user.email, user.password, '10.1.0.4')
    expect([locked.res.statusCode, locked.statements]).toEqual([429, 1])
    const pow = await login(user.email, user.password, '10.1.0.5')
    expect([pow.res.json().error, pow.statements]).toEqual(['proof_of_work_required', 1])
  })

  it('a refresh: one, the rotation function', async () => {
    const user = await register(t.app)
    const { res } = await login(user.email, user.password, '10.1.0.8')
    const refreshed = await counted({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: res.json().refresh_token } })
    expect(refreshed.res.statusCode).toBe(200)
    expect(refreshed.statements).toBe(1)
  })
})
