import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildTestApp, type TestApp } from '../../helpers/app.js'
import { adminQuery } from '../../helpers/database.js'
import { bearer, cookieSession, loginBearer, loginCookie, refreshJson, register, sidOf, uniqueEmail } from '../../helpers/flows.js'

let t: TestApp
beforeAll(async () => {
  t = await buildTestApp()
})
afterAll(() => t.close())

const OLD = 'correct horse battery'
const NEW = 'new staple battery horse'

const change = (headers: Record<string, string>, payload: object) =>
  t.app.inject({ method: 'POST', url: '/auth/password', headers, payload })
const me = (accessToken: string) => t.app.inject({ url: '/auth/me', headers: bearer(accessToken) })
const login = (email: string, password: string) => t.app.inject({ method: 'POST', url: '/auth/login', payload: { email, password } })
const reasonOf = async (sid: string) =>
  (await adminQuery('SELECT revoked_reason FROM auth.token_families WHERE id = $1', [sid], t.databaseUrl))[0]!.revoked_reason
const hashOf = async (email: string) =>
  (await adminQuery('SELECT password_hash FROM auth.users WHERE email = $1', [email], t.databaseUrl))[0]!.password_hash as string

async function account() {
  const user = await register(t.app, uniqueEmail(), OLD)
  const here = await loginBearer(t.app, user.email, OLD)
  const phone = await loginBearer(t.app, user.email, OLD)
  const laptop = await loginBearer(t.app, user.email, OLD)
  return { user, here, others: [phone, laptop] }
}

describe('POST /auth/password (Bearer)', () => {
  it('changes the password, ends every other session, and keeps this one with a fresh token pair', async () => {
    const { user, here, others } = await account()
    const res = await change(bearer(here.accessToken), { current_password: OLD, new_password: NEW, refresh_token: here.refreshToken })
    expect(res.statusCode).toBe(200)
    expect(res.headers['cache-control']).toBe('no-store')
    const body = res.json()
    expect(body).toEqual({ token_type: 'Bearer', expires_in: 900, access_token: expect.any(String), refresh_token: expect.any(String) })
    expect(body.refresh_token).not.toBe(here.refreshToken)
    expect(sidOf(body.access_token)).toBe(sidOf(here.accessToken))

    for (const s of others) {
      expect(await reasonOf(sidOf(s.accessToken))).toBe('password_changed')
      expect((await me(s.accessToken)).json().error).toBe('session_revoked')
      expect((await refreshJson(t.app, s.refreshToken)).json().error).toBe('session_revoked')
    }
    // This session: still logged in, on the new refresh token.
    expect(await reasonOf(sidOf(here.accessToken))).toBeNull()
    expect((await me(body.access_token)).statusCode).toBe(200)
    expect((await refreshJson(t.app, body.refresh_token)).statusCode).toBe(200)

    expect((await login(user.email, OLD)).json().error).toBe('invalid_credentials')
    expect((await login(user.email, NEW)).statusCode).toBe(200)
  })

  it('a client that lost the answer can repeat the request until the password has changed', async () => {
    const { user, here } = await account()
    // Simulate: rotation and revocation done, answer lost. The old refresh token is now the
    // parent of the live one and replays within the window to the same child.
    const first = await change(bearer(here.accessToken), { current_password: OLD, new_password: NEW, refresh_token: here.refreshToken })
    expect(first.statusCode).toBe(200)
    const replay = await refreshJson(t.app, here.refreshToken)
    expect(replay.statusCode).toBe(200)
    expect(replay.json().refresh_token).toBe(first.json().refresh_token)
    expect(await reasonOf(sidOf(here.accessToken))).toBeNull()
    expect((await login(user.email, NEW)).statusCode).toBe(200)
  })

  it('a wrong current password: 403 invalid_current_password, and nothing changes', async () => {
    const { user, here, others } = await account()
    const before = await hashOf(user.email)
    const res = await change(bearer(here.accessToken), { current_password: 'not my password', new_password: NEW, refresh_token: here.refreshToken })
    expect([res.statusCode, res.json().error]).toEqual([403, 'invalid_current_password'])
    expect(await hashOf(user.email)).toBe(before)
    for (const s of [here, ...others]) expect(await reasonOf(sidOf(s.accessToken))).toBeNull()
    // The presented refresh token was not spent.
    expect((await refreshJson(t.app, here.refreshToken)).statusCode).toBe(200)
  })

  it("needs this session's refresh token: missing or another session's is a 400 and changes nothing", async () => {
    const { user, here, others } = await account()
    const before = await hashOf(user.email)
    const missing = await change(bearer(here.accessToken), { current_password: OLD, new_password: NEW })
    const foreign = await change(bearer(here.accessToken), { current_password: OLD, new_password: NEW, refresh_token: others[0]!.refreshToken })
    expect([missing.statusCode, missing.json().error]).toEqual([400, 'invalid_request'])
    expect([foreign.statusCode, foreign.json().error]).toEqual([400, 'invalid_request'])
    expect(await hashOf(user.email)).toBe(before)
    expect(await reasonOf(sidOf(others[0]!.accessToken))).toBeNull()
  })

  it('needs a valid access token, and a new password of 8+ characters', async () => {
    const { here } = await account()
    const anonymous = await t.app.inject({ method: 'POST', url: '/auth/password', payload: { current_password: OLD, new_password: NEW, refresh_token: here.refreshToken } })
    expect(anonymous.statusCode).toBe(401)
    const short = await change(bearer(here.accessToken), { current_password: OLD, new_password: 'short', refresh_token: here.refreshToken })
    expect([short.statusCode, short.json().error]).toEqual([400, 'invalid_request'])
  })

  it('new passwords are NFC-normalised: typed decomposed, logged in with composed', async () => {
    const { user, here } = await account()
    const decomposed = 'cafe\u0301 au lait 42' // e + combining acute
    const composed = 'caf\u00e9 au lait 42'
    expect((await change(bearer(here.accessToken), { current_password: OLD, new_password: decomposed, refresh_token: here.refreshToken })).statusCode).toBe(200)
    expect((await login(user.email, composed)).statusCode).toBe(200)
  })
})

describe('POST /auth/password (cookies)', () => {
  it('reads the refresh cookie and answers with new cookies, no tokens in the body', async () => {
    const user = await register(t.app, uniqueEmail(), OLD)
    const web = await loginCookie(t.app, user)
    const phone = await loginBearer(t.app, user.email, OLD)
    const res = await change(web.headers, { current_password: OLD, new_password: NEW })
    expect(res.statusCode).toBe(200)
    expect(res.json()).toEqual({ token_type: 'Bearer', expires_in: 900 })
    const next = cookieSession(user.email, res)
    expect(next.sid).toBe(web.sid)
    expect(next.refresh).not.toBe(web.refresh)
    expect((await me(phone.accessToken)).json().error).toBe('session_revoked')
    const refreshed = await t.app.inject({ method: 'POST', url: '/auth/refresh', headers: next.headers })
    expect(refreshed.statusCode).toBe(200)
  })
})

describe('POST /auth/password and the failed-login lock', () => {
  it('wrong current passwords count like failed logins: the account locks (429 + Retry-After)', async () => {
    const strict = await buildTestApp({ env: { LOGIN_LOCK_AFTER_FAILURES: '2', LOGIN_LOCK_BASE_SEC: '30' } })
    try {
      const user = await register(strict.app, uniqueEmail(), OLD)
      const s = await loginBearer(strict.app, user.email, OLD)
      const attempt = (current: string) =>
        strict.app.inject({ method: 'POST', url: '/auth/password', headers: bearer(s.accessToken), payload: { current_password: current, new_password: NEW, refresh_token: s.refreshToken } })
      expect((await attempt('guess one!')).statusCode).toBe(403)
      expect((await attempt('guess two!')).statusCode).toBe(403)
      expect((await attempt('guess three')).statusCode).toBe(403) // sets the lock
      const locked = await attempt(OLD)
      expect([locked.statusCode, locked.json().error]).toEqual([429, 'too_many_requests'])
      expect(Number(locked.headers['retry-after'])).toBeGreaterThanOrEqual(29)
      // The same lock holds for login.
      const viaLogin = await strict.app.inject({ method: 'POST', url: '/auth/login', payload: { email: user.email, password: OLD } })
      expect(viaLogin.statusCode).toBe(429)
    } finally {
      await strict.close()
    }
  })
})
