import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildTestApp, type TestApp, settledStatements, metricValue } from '../helpers/app.js'
import { COOKIE, cookieHeader, cookiesOf, loginBearer, register } from '../helpers/flows.js'

let t: TestApp
beforeAll(async () => {
  t = await buildTestApp()
})
afterAll(() => t.close())

describe('GET /me', () => {
  it('answers from a Bearer access token', async () => {
    const s = await loginBearer(t.app)
    const res = await t.app.inject({ url: '/auth/me', headers: { authorization: `Bearer ${s.accessToken}` } })
    expect(res.statusCode).toBe(200)
    // No address: access tokens carry none unless configured (tokens.includeEmail).
    expect(res.json()).toEqual({ id: expect.any(String), email_verified: false, session_id: expect.any(String) })
  })

  it('answers with the address when access tokens carry it (ACCESS_TOKEN_EMAIL=true)', async () => {
    const withEmail = await buildTestApp({ env: { ACCESS_TOKEN_EMAIL: 'true' } })
    try {
      const s = await loginBearer(withEmail.app)
      const res = await withEmail.app.inject({ url: '/auth/me', headers: { authorization: `Bearer ${s.accessToken}` } })
      expect(res.json()).toEqual({ id: expect.any(String), email: s.email, email_verified: false, session_id: expect.any(String) })
      expect(JSON.parse(Buffer.from(s.accessToken.split('.')[1]!, 'base64url').toString()).email).toBe(s.email)
    } finally {
      await withEmail.close()
    }
  })

  it('answers from the access cookie', async () => {
    const user = await register(t.app)
    const c = cookiesOf(await t.app.inject({ method: 'POST', url: '/auth/login', payload: user, headers: COOKIE }))
    const res = await t.app.inject({ url: '/auth/me', headers: { cookie: cookieHeader({ access_token: c.access_token!.value }) } })
    expect(res.statusCode).toBe(200)
    expect(res.json().id).toBe(user.id)
  })

  it('makes zero database queries, whichever transport', async () => {
    // A sync interval longer than the test keeps the denylist's catch-up out of the count.
    const quiet = await buildTestApp({ env: { DENYLIST_SYNC_INTERVAL_MS: '60000' } })
    try {
      const s = await loginBearer(quiet.app)
      const user = await register(quiet.app)
      const c = cookiesOf(await quiet.app.inject({ method: 'POST', url: '/auth/login', payload: user, headers: COOKIE }))
      // The logins' audit rows are written in a batch up to 50 ms later: not /me's statements.
      const before = await settledStatements(quiet.app)
      for (let i = 0; i < 50; i++) {
        const bearer = await quiet.app.inject({ url: '/auth/me', headers: { authorization: `Bearer ${s.accessToken}` } })
        const cookie = await quiet.app.inject({ url: '/auth/me', headers: { cookie: cookieHeader({ access_token: c.access_token!.value }) } })
        expect([bearer.statusCode, cookie.statusCode]).toEqual([200, 200])
      }
      expect((await metricValue(quiet.app, 'auth_db_statements_total')) - before).toBe(0)
      // The counter does count: one refresh moves it.
      await quiet.app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: s.refreshToken } })
      expect(await metricValue(quiet.app, 'auth_db_statements_total')).toBeGreaterThan(before)
    } finally {
      await quiet.close()
    }
  })

  it('prefers the Authorization header over the cookie', async () => {
    const s = await loginBearer(t.app)
    const res = await t.app.inject({
      url: '/auth/me',
      headers: { authorization: 'Bearer not-a-token', cookie: cookieHeader({ access_token: s.accessToken }) },
    })
    expect(res.statusCode).toBe(401)
  })

  it('without a token answers 401 unauthorized', async () => {
    const res = await t.app.inject({ url: '/auth/me' })
    expect(res.statusCode).toBe(401)
    expect(res.json()).toEqual({ error: 'unauthorized', error_description: expect.any(String) })
  })
})
