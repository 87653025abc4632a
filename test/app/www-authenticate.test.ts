// RFC 6750 §3: every 401 from a route protected by an access token carries a Bearer challenge,
// with error="invalid_token" when a token was sent, and without an error when none was.
import { createPrivateKey, sign } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildTestApp, type TestApp } from '../helpers/app.js'
import { adminQuery } from '../helpers/database.js'
import { bearer, cookieHeader, loginBearer, sidOf } from '../helpers/flows.js'

let t: TestApp
beforeAll(async () => {
  t = await buildTestApp()
})
afterAll(() => t.close())

const PROTECTED = [
  { method: 'GET', url: '/auth/me' },
  { method: 'GET', url: '/auth/sessions' },
  { method: 'GET', url: '/auth/sessions/events' },
  { method: 'DELETE', url: '/auth/sessions/00000000-0000-4000-8000-000000000000' },
  { method: 'POST', url: '/auth/password', payload: { current_password: 'x', new_password: 'long enough' } },
  { method: 'POST', url: '/auth/logout?scope=all' },
  { method: 'POST', url: '/auth/logout' },
  { method: 'POST', url: '/auth/email/change', payload: { new_email: 'next@example.com', password: 'long enough' } },
] as const

const send = (route: (typeof PROTECTED)[number], headers: Record<string, string>) =>
  t.app.inject({ method: route.method, url: route.url, headers, ...('payload' in route ? { payload: route.payload } : {}) })

describe.each(PROTECTED)('$method $url', (route) => {
  it('without credentials: 401 with a bare Bearer challenge', async () => {
    const res = await send(route, {})
    expect([res.statusCode, res.json().error]).toEqual([401, 'unauthorized'])
    expect(res.headers['www-authenticate']).toBe('Bearer')
  })

  it('with a malformed token: invalid_token in the challenge', async () => {
    const res = await send(route, { authorization: 'Bearer not.a.jwt' })
    expect([res.statusCode, res.json().error]).toEqual([401, 'invalid_token'])
    expect(res.headers['www-authenticate']).toBe('Bearer error="invalid_token", error_description="The access token is invalid."')
  })
})

describe('the challenge names the reason', () => {
  it('a revoked session: invalid_token, described as revoked', async () => {
    const s = await loginBearer(t.app)
    await t.app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: s.refreshToken } })
    const res = await t.app.inject({ url: '/auth/me', headers: bearer(s.accessToken) })
    expect(res.json().error).toBe('session_revoked')
    expect(res.headers['www-authenticate']).toBe('Bearer error="invalid_token", error_description="The session has been revoked."')
    expect(await adminQuery('SELECT 1 FROM auth.token_families WHERE id = $1 AND revoked_at IS NOT NULL', [sidOf(s.accessToken)], t.databaseUrl)).toHaveLength(1)
  })

  it('an expired token: invalid_token, described as expired', async () => {
    const s = await loginBearer(t.app)
    // The same claims, signed with our key, expired a minute ago.
    const claims = JSON.parse(Buffer.from(s.accessToken.split('.')[1]!, 'base64url').toString())
    const header = s.accessToken.split('.')[0]!
    const payload = Buffer.from(JSON.stringify({ ...claims, iat: claims.iat - 1000, exp: Math.floor(Date.now() / 1000) - 60 })).toString('base64url')
    const signature = sign(null, Buffer.from(`${header}.${payload}`), createPrivateKey(t.config.jwt.key.signKey)).toString('base64url')
    const res = await t.app.inject({ url: '/auth/me', headers: bearer(`${header}.${payload}.${signature}`) })
    expect(res.json().error).toBe('token_expired')
    expect(res.headers['www-authenticate']).toBe('Bearer error="invalid_token", error_description="The access token has expired."')
  })

  it('the access cookie gets the same challenge', async () => {
    const res = await t.app.inject({ url: '/auth/me', headers: { cookie: cookieHeader({ access_token: 'garbage' }) } })
    expect(res.statusCode).toBe(401)
    expect(res.headers['www-authenticate']).toBe('Bearer error="invalid_token", error_description="The access token is invalid."')
  })

  it('logout with only a refresh token that names no session: a bare challenge', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: 'A'.repeat(43) } })
    expect([res.statusCode, res.json().error]).toEqual([401, 'invalid_refresh_token'])
    expect(res.headers['www-authenticate']).toBe('Bearer')
  })

  it('401s that are not about an access token carry no Bearer challenge: a wrong password at login', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/auth/login', payload: { email: 'nobody@example.com', password: 'whatever123' } })
    expect(res.statusCode).toBe(401)
    expect(res.headers['www-authenticate']).toBeUndefined()
  })
})
