import { createHash, randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildTestApp, type TestApp } from '../../helpers/app.js'
import { adminQuery } from '../../helpers/database.js'
import { COOKIE, cookieHeader, cookiesOf, loginBearer, refreshJson, register, sidOf } from '../../helpers/flows.js'

let t: TestApp
beforeAll(async () => {
  t = await buildTestApp()
})
afterAll(() => t.close())

const familyRow = async (sid: string) =>
  (await adminQuery('SELECT revoked_at, revoked_reason FROM auth.token_families WHERE id = $1', [sid], t.databaseUrl))[0]!
const me = (accessToken: string) => t.app.inject({ url: '/auth/me', headers: { authorization: `Bearer ${accessToken}` } })
const form = (body: string) =>
  t.app.inject({
    method: 'POST',
    url: '/auth/refresh',
    payload: body,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  })

describe('POST /auth/refresh with a JSON body (mobile)', () => {
  it('rotates: a new refresh token of the same family and a working access token', async () => {
    const s = await loginBearer(t.app)
    const res = await refreshJson(t.app, s.refreshToken)
    expect(res.statusCode).toBe(200)
    expect(res.headers['cache-control']).toBe('no-store')
    const body = res.json()
    expect(body.refresh_token).not.toBe(s.refreshToken)
    expect(sidOf(body.access_token)).toBe(sidOf(s.accessToken))
    expect((await me(body.access_token)).statusCode).toBe(200)

    const rows = await adminQuery<{ token_hash: string; spent_at: Date | null; parent_id: string | null }>(
      'SELECT token_hash, spent_at, parent_id FROM auth.refresh_tokens WHERE family_id = $1 ORDER BY created_at',
      [sidOf(s.accessToken)],
      t.databaseUrl,
    )
    expect(rows).toHaveLength(2)
    expect(rows[0]!.spent_at).not.toBeNull()
    expect(rows[1]!.spent_at).toBeNull()
    expect(rows[1]!.token_hash).toBe(createHash('sha256').update(body.refresh_token).digest('hex'))
  })

  it('a spent token presented after the grace window revokes the whole family', async () => {
    const s = await loginBearer(t.app)
    const child = (await refreshJson(t.app, s.refreshToken)).json().refresh_token
    // Move the child's creation outside the 30 s window instead of sleeping.
    await adminQuery(`UPDATE auth.refresh_tokens SET created_at = created_at - interval '31 seconds' WHERE family_id = $1`, [sidOf(s.accessToken)], t.databaseUrl)

    const reuse = await refreshJson(t.app, s.refreshToken)
    expect(reuse.statusCode).toBe(401)
    expect(reuse.json().error).toBe('refresh_token_reused')
    expect(await familyRow(sidOf(s.accessToken))).toMatchObject({ revoked_reason: 'reuse_detected' })

    // The legitimate holder's child is dead too, and so are the family's access tokens.
    const after = await refreshJson(t.app, child)
    expect(after.statusCode).toBe(401)
    expect(after.json().error).toBe('session_revoked')
    expect((await me(s.accessToken)).json().error).toBe('session_revoked')
  })

  it('with REFRESH_REUSE_WINDOW=0 any second use of a token is reuse', async () => {
    const strict = await buildTestApp({ env: { REFRESH_REUSE_WINDOW: '0' } })
    try {
      const s = await loginBearer(strict.app)
      expect((await refreshJson(strict.app, s.refreshToken)).statusCode).toBe(200)
      const again = await refreshJson(strict.app, s.refreshToken)
      expect(again.json().error).toBe('refresh_token_reused')
    } finally {
      await strict.close()
    }
  })

  it('a replay inside the window gets the identical child', async () => {
    const s = await loginBearer(t.app)
    const a = (await refreshJson(t.app, s.refreshToken)).json()
    const b = (await refreshJson(t.app, s.refreshToken)).json()
    expect(b.refresh_token).toBe(a.refresh_token)
    expect(await familyRow(sidOf(s.accessToken))).toMatchObject({ revoked_at: null })
  })

  it('a token the server never issued changes nothing (401, family untouched)', async () => {
    const s = await loginBearer(t.app)
    for (const bogus of [randomBytes(32).toString('base64url'), s.refreshToken.slice(0, 20), `${s.refreshToken}x`, 'ünïcode', s.accessToken]) {
      const res = await refreshJson(t.app, bogus)
      expect(res.statusCode).toBe(401)
      expect(res.json().error).toBe('invalid_refresh_token')
    }
    expect(await familyRow(sidOf(s.accessToken))).toMatchObject({ revoked_at: null })
    expect((await refreshJson(t.app, s.refreshToken)).statusCode).toBe(200)
  })

  it('the same through the refresh cookie: 401, nothing set, the family untouched', async () => {
    const user = await register(t.app)
    const jar = cookiesOf(await t.app.inject({ method: 'POST', url: '/auth/login', payload: user, headers: COOKIE }))
    const real = jar.refresh_token!.value
    const bogusTokens = [randomBytes(32).toString('base64url'), real.slice(0, 20), `${real}x`, real.slice(1), jar.access_token!.value, '%E2%9C%93']
    for (const bogus of bogusTokens) {
      const res = await t.app.inject({ method: 'POST', url: '/auth/refresh', headers: { ...COOKIE, cookie: `refresh_token=${bogus}` } })
      expect([res.statusCode, res.json().error], bogus).toEqual([401, 'invalid_refresh_token'])
      expect(res.headers['set-cookie']).toBeUndefined()
    }
    const ok = await t.app.inject({ method: 'POST', url: '/auth/refresh', headers: { ...COOKIE, cookie: cookieHeader({ refresh_token: real }) } })
    expect(ok.statusCode).toBe(200)
  })

  it('an expired family refreshes to session_expired, not reuse', async () => {
    const s = await loginBearer(t.app)
    await adminQuery(`UPDATE auth.token_families SET expires_at = now() - interval '1 second' WHERE id = $1`, [sidOf(s.accessToken)], t.databaseUrl)
    const res = await refreshJson(t.app, s.refreshToken)
    expect(res.statusCode).toBe(401)
    expect(res.json().error).toBe('session_expired')
    expect(await familyRow(sidOf(s.accessToken))).toMatchObject({ revoked_at: null })
  })

  it('an idle token past its own expiry refreshes to session_expired', async () => {
    const s = await loginBearer(t.app)
    await adminQuery(`UPDATE auth.refresh_tokens SET expires_at = now() - interval '1 second' WHERE family_id = $1`, [sidOf(s.accessToken)], t.databaseUrl)
    expect((await refreshJson(t.app, s.refreshToken)).json().error).toBe('session_expired')
  })

  it('without any token answers 401 unauthorized', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/auth/refresh', payload: {} })
    expect(res.statusCode).toBe(401)
    expect(res.json().error).toBe('unauthorized')
  })

  it('rejects a non-string or oversized token with 400', async () => {
    for (const refresh_token of [42, { $ne: null }, 'x'.repeat(5000)]) {
      const res = await t.app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token } })
      expect(res.statusCode).toBe(400)
      expect(res.json().error).toBe('invalid_request')
    }
  })
})

describe('POST /auth/refresh as an OAuth 2.0 refresh grant (RFC 6749 §6)', () => {
  it('rotates with grant_type=refresh_token in a form body', async () => {
    const s = await loginBearer(t.app)
    const res = await form(`grant_type=refresh_token&refresh_token=${s.refreshToken}`)
    expect(res.statusCode).toBe(200)
    expect(res.json()).toEqual({
      access_token: expect.any(String),
      token_type: 'Bearer',
      expires_in: 900,
      refresh_token: expect.any(String),
    })
  })

  it('answers §5.2 errors: unsupported_grant_type, invalid_request, invalid_grant', async () => {
    const s = await loginBearer(t.app)
    const wrongGrant = await form(`grant_type=password&refresh_token=${s.refreshToken}`)
    expect([wrongGrant.statusCode, wrongGrant.json().error]).toEqual([400, 'unsupported_grant_type'])
    const missing = await form('grant_type=refresh_token')
    expect([missing.statusCode, missing.json().error]).toEqual([400, 'invalid_request'])
    const unknown = await form(`grant_type=refresh_token&refresh_token=${randomBytes(32).toString('base64url')}`)
    expect([unknown.statusCode, unknown.json().error]).toEqual([400, 'invalid_grant'])
  })

  it('reports reuse as invalid_grant and still revokes the family', async () => {
    const s = await loginBearer(t.app)
    await form(`grant_type=refresh_token&refresh_token=${s.refreshToken}`)
    await adminQuery(`UPDATE auth.refresh_tokens SET created_at = created_at - interval '1 minute' WHERE family_id = $1`, [sidOf(s.accessToken)], t.databaseUrl)
    const reuse = await form(`grant_type=refresh_token&refresh_token=${s.refreshToken}`)
    expect([reuse.statusCode, reuse.json().error]).toEqual([400, 'invalid_grant'])
    expect(await familyRow(sidOf(s.accessToken))).toMatchObject({ revoked_reason: 'reuse_detected' })
  })
})

describe('POST /auth/refresh with cookies (web)', () => {
  async function cookieLogin() {
    const user = await register(t.app)
    const res = await t.app.inject({ method: 'POST', url: '/auth/login', payload: user, headers: COOKIE })
    const c = cookiesOf(res)
    return { access: c.access_token!.value, refresh: c.refresh_token!.value }
  }

  it('reads the refresh cookie, sets both cookies again and returns no token in the body', async () => {
    const jar = await cookieLogin()
    const res = await t.app.inject({
      method: 'POST',
      url: '/auth/refresh',
      headers: { ...COOKIE, cookie: cookieHeader({ refresh_token: jar.refresh }) },
    })
    expect(res.statusCode).toBe(200)
    expect(res.json()).toEqual({ token_type: 'Bearer', expires_in: 900 })
    expect(res.headers['cache-control']).toBe('no-store')
    const c = cookiesOf(res)
    expect(c.refresh_token!.value).not.toBe(jar.refresh)
    expect(c.access_token!.value).toBeTruthy()
    const meRes = await t.app.inject({ url: '/auth/me', headers: { cookie: cookieHeader({ access_token: c.access_token!.value }) } })
    expect(meRes.statusCode).toBe(200)
  })

  it('a replay inside the window sets the same refresh cookie again', async () => {
    const jar = await cookieLogin()
    const headers = { ...COOKIE, cookie: cookieHeader({ refresh_token: jar.refresh }) }
    const a = cookiesOf(await t.app.inject({ method: 'POST', url: '/auth/refresh', headers }))
    const b = await t.app.inject({ method: 'POST', url: '/auth/refresh', headers })
    expect(b.statusCode).toBe(200)
    expect(b.headers['cache-control']).toBe('no-store')
    expect(cookiesOf(b).refresh_token!.value).toBe(a.refresh_token!.value)
  })

  it('refuses a cookie-carrying refresh that does not opt into the cookie transport (CSRF)', async () => {
    const jar = await cookieLogin()
    const res = await t.app.inject({ method: 'POST', url: '/auth/refresh', headers: { cookie: cookieHeader({ refresh_token: jar.refresh }) } })
    expect(res.statusCode).toBe(403)
    expect(res.json().error).toBe('csrf_rejected')
  })

  it('a session-over answer sets no cookie: a newer login\'s cookies, set by another tab meanwhile, survive it', async () => {
    // Tab 1 refreshes with the cookies of a session that has just ended; before its answer
    // arrives, tab 2 logs in. The browser applies tab 2's Set-Cookie first, then tab 1's
    // answer: anything that clears cookies there would log tab 2's new session out.
    const stale = await cookieLogin()
    await t.app.inject({ method: 'POST', url: '/auth/logout', headers: { ...COOKIE, cookie: cookieHeader({ refresh_token: stale.refresh }) } })
    const fresh = await cookieLogin()
    for (const [cookie, code] of [
      [{ refresh_token: stale.refresh }, 'session_revoked'],
      [{ refresh_token: 'x'.repeat(43) }, 'invalid_refresh_token'],
    ] as const) {
      const res = await t.app.inject({ method: 'POST', url: '/auth/refresh', headers: { ...COOKIE, cookie: cookieHeader(cookie) } })
      expect([res.statusCode, res.json().error]).toEqual([401, code])
      expect(res.headers['set-cookie']).toBeUndefined()
    }
    // The newer login's cookies still work.
    const res = await t.app.inject({ method: 'POST', url: '/auth/refresh', headers: { ...COOKIE, cookie: cookieHeader({ refresh_token: fresh.refresh }) } })
    expect(res.statusCode).toBe(200)
  })
})
