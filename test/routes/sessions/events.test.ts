import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildTestApp, type TestApp, settledStatements } from '../../helpers/app.js'
import { adminQuery } from '../../helpers/database.js'
import { bearer, loginBearer, loginCookie, refreshJson, register, sidOf } from '../../helpers/flows.js'

const lines: string[] = []
let t: TestApp
beforeAll(async () => {
  t = await buildTestApp({ env: { LOG_LEVEL: 'debug' }, logStream: { write: (l: string) => void lines.push(l) } })
})
afterAll(() => t.close())

interface Event {
  id: string
  type: string
  session_id: string | null
  reason: string | null
  ip: string | null
  user_agent: string | null
  created_at: string
}

const events = async (accessToken: string, query = '') => {
  const res = await t.app.inject({ url: `/auth/sessions/events${query}`, headers: bearer(accessToken) })
  if (res.statusCode !== 200) throw new Error(`${res.statusCode} ${res.body}`)
  return res.json() as { events: Event[]; next_cursor: string | null }
}
const typesOf = (list: Event[]) => list.map((e) => (e.reason ? `${e.type}:${e.reason}` : e.type)).reverse()

describe('GET /sessions/events', () => {
  it('records logins, failures, refreshes, revocations and password changes, newest first', async () => {
    const user = await register(t.app)
    await t.app.inject({ method: 'POST', url: '/auth/login', payload: { email: user.email, password: 'wrong password' }, headers: { 'user-agent': 'Thief/1' } })
    const phone = await loginBearer(t.app, user.email, user.password)
    const rotated = (await refreshJson(t.app, phone.refreshToken)).json()
    const laptop = await loginBearer(t.app, user.email, user.password)
    await t.app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: rotated.refresh_token } })
    const changed = await t.app.inject({
      method: 'POST',
      url: '/auth/password',
      headers: bearer(laptop.accessToken),
      payload: { current_password: user.password, new_password: 'a brand new password', refresh_token: laptop.refreshToken },
    })
    expect(changed.statusCode).toBe(200)

    const page = await events(changed.json().access_token)
    expect(typesOf(page.events)).toEqual([
      'registered',
      'login_failure:invalid_credentials',
      'login_success',
      'refresh',
      'login_success',
      'family_revoked:logout',
      'refresh', // the password change rotates the current session
      'password_changed',
    ])
    const failure = page.events.find((e) => e.type === 'login_failure')!
    expect(failure).toMatchObject({ session_id: null, ip: '127.0.0.1', user_agent: 'Thief/1' })
    const logout = page.events.find((e) => e.type === 'family_revoked')!
    expect(logout.session_id).toBe(sidOf(phone.accessToken))
    expect(page.next_cursor).toBeNull()
    const times = page.events.map((e) => Date.parse(e.created_at))
    expect(times).toEqual([...times].sort((a, b) => b - a))
  })

  it('a password change records each other session it ended', async () => {
    const user = await register(t.app)
    const here = await loginBearer(t.app, user.email, user.password)
    const a = await loginBearer(t.app, user.email, user.password)
    const b = await loginBearer(t.app, user.email, user.password)
    const res = await t.app.inject({
      method: 'POST',
      url: '/auth/password',
      headers: bearer(here.accessToken),
      payload: { current_password: user.password, new_password: 'a brand new password', refresh_token: here.refreshToken },
    })
    const revoked = (await events(res.json().access_token)).events.filter((e) => e.type === 'family_revoked')
    expect(revoked.map((e) => e.reason)).toEqual(['password_changed', 'password_changed'])
    expect(revoked.map((e) => e.session_id).sort()).toEqual([sidOf(a.accessToken), sidOf(b.accessToken)].sort())
  })

  it('records detected reuse and the revocation it caused, before answering', async () => {
    const user = await register(t.app)
    const s = await loginBearer(t.app, user.email, user.password)
    await refreshJson(t.app, s.refreshToken)
    await adminQuery(`UPDATE auth.refresh_tokens SET created_at = created_at - interval '1 minute' WHERE family_id = $1`, [sidOf(s.accessToken)], t.databaseUrl)
    expect((await refreshJson(t.app, s.refreshToken)).json().error).toBe('refresh_token_reused')
    // Written before the answer: visible straight from the table.
    const rows = await adminQuery<{ type: string; reason: string | null; family_id: string }>(
      `SELECT type, reason, family_id FROM auth.audit_events WHERE family_id = $1 AND type IN ('reuse_detected', 'family_revoked') ORDER BY type DESC`,
      [sidOf(s.accessToken)],
      t.databaseUrl,
    )
    expect(rows).toEqual([
      { type: 'reuse_detected', reason: null, family_id: sidOf(s.accessToken) },
      { type: 'family_revoked', reason: 'reuse_detected', family_id: sidOf(s.accessToken) },
    ])
    const other = await loginBearer(t.app, user.email, user.password)
    expect(typesOf((await events(other.accessToken)).events)).toContain('reuse_detected')
  })

  it('pages with a cursor: every event exactly once, limit up to 100', async () => {
    const user = await register(t.app)
    const s = await loginBearer(t.app, user.email, user.password)
    let token = s.refreshToken
    for (let i = 0; i < 24; i++) token = (await refreshJson(t.app, token)).json().refresh_token
    const all = await events(s.accessToken, '?limit=100')
    expect(all.events).toHaveLength(26) // registered, login_success, 24 refreshes
    expect(all.next_cursor).toBeNull()

    const seen: string[] = []
    let cursor: string | null = null
    let pages = 0
    do {
      const page: { events: Event[]; next_cursor: string | null } = await events(s.accessToken, `?limit=7${cursor ? `&cursor=${cursor}` : ''}`)
      expect(page.events.length).toBeLessThanOrEqual(7)
      seen.push(...page.events.map((e) => e.id))
      cursor = page.next_cursor
      pages++
    } while (cursor)
    expect(pages).toBe(4)
    expect(seen).toEqual(all.events.map((e) => e.id))
    expect((await events(s.accessToken)).events).toHaveLength(20) // default page
  })

  it('refuses a limit outside 1–100 and a cursor it did not make', async () => {
    const s = await loginBearer(t.app)
    for (const q of ['?limit=0', '?limit=101', '?limit=-1', '?limit=abc', '?cursor=bogus!', '?cursor=' + Buffer.from('x|y').toString('base64url')]) {
      const res = await t.app.inject({ url: `/auth/sessions/events${q}`, headers: bearer(s.accessToken) })
      expect([res.statusCode, res.json().error], q).toEqual([400, 'invalid_request'])
    }
  })

  it("shows only the caller's own events; needs an access token (cookie works too)", async () => {
    const a = await register(t.app)
    const b = await register(t.app)
    const sa = await loginBearer(t.app, a.email, a.password)
    await loginBearer(t.app, b.email, b.password)
    await t.app.inject({ method: 'POST', url: '/auth/login', payload: { email: b.email, password: 'wrong password' } })
    expect(typesOf((await events(sa.accessToken)).events)).toEqual(['registered', 'login_success'])
    const web = await loginCookie(t.app, b)
    const res = await t.app.inject({ url: '/auth/sessions/events', headers: { cookie: `access_token=${web.access}` } })
    expect(typesOf(res.json().events)).toEqual(['registered', 'login_success', 'login_failure:invalid_credentials', 'login_success'])
    expect((await t.app.inject({ url: '/auth/sessions/events' })).statusCode).toBe(401)
  })

  it('a login for an unknown address is a log line only: there is no account to show it to', async () => {
    const before = Number((await adminQuery<{ n: string }>('SELECT count(*) AS n FROM auth.audit_events', [], t.databaseUrl))[0]!.n)
    const res = await t.app.inject({ method: 'POST', url: '/auth/login', payload: { email: 'nobody-at-all@example.com', password: 'wrong password' } })
    expect(res.statusCode).toBe(401)
    await settledStatements(t.app)
    const after = Number((await adminQuery<{ n: string }>('SELECT count(*) AS n FROM auth.audit_events', [], t.databaseUrl))[0]!.n)
    expect(after).toBe(before)
    const logged = lines.map((l) => JSON.parse(l)).filter((l) => l.audit?.type === 'login_failure' && l.audit.userId === null)
    expect(logged.length).toBeGreaterThan(0)
  })
})

describe('audit log lines', () => {
  it('every event is also a structured log line, without tokens or passwords', async () => {
    const user = await register(t.app)
    const s = await loginBearer(t.app, user.email, user.password)
    const r = (await refreshJson(t.app, s.refreshToken)).json()
    await t.app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: r.refresh_token } })
    const mine = lines.map((l) => JSON.parse(l)).filter((l) => l.audit?.sid === sidOf(s.accessToken))
    // a refresh is routine: its line is at debug (20), the others at info (30)
    expect(mine.map((l) => [l.msg, l.audit.type, l.audit.reason, l.level])).toEqual([
      ['audit login_success', 'login_success', null, 30],
      ['audit refresh', 'refresh', null, 20],
      ['audit family_revoked', 'family_revoked', 'logout', 30],
    ])
    expect(mine[0].audit).toEqual({ type: 'login_success', userId: user.id, sid: sidOf(s.accessToken), reason: null, ip: '127.0.0.1', userAgent: 'lightMyRequest' })
    const all = lines.join('')
    for (const secret of [user.password, s.accessToken, s.refreshToken, r.access_token, r.refresh_token]) expect(all).not.toContain(secret)
  })
})
