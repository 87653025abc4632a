// The cookie transport against a hostile page: CSRF refused, CORS only for the allowlist,
// security headers on every answer. Bearer clients are unaffected.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildTestApp, type TestApp } from '../helpers/app.js'
import { adminQuery } from '../helpers/database.js'
import { COOKIE, cookieHeader, cookiesOf, loginBearer, register } from '../helpers/flows.js'

const APP = 'https://app.example.com'
let t: TestApp
beforeAll(async () => {
  t = await buildTestApp({ env: { CORS_ORIGINS: APP } })
})
afterAll(() => t.close())

async function cookieSession() {
  const user = await register(t.app)
  const c = cookiesOf(await t.app.inject({ method: 'POST', url: '/auth/login', payload: user, headers: COOKIE }))
  const sid = JSON.parse(Buffer.from(c.access_token!.value.split('.')[1]!, 'base64url').toString()).sid as string
  return { jar: cookieHeader({ access_token: c.access_token!.value, refresh_token: c.refresh_token!.value }), sid }
}
const revokedAt = async (sid: string) =>
  (await adminQuery('SELECT revoked_at FROM auth.token_families WHERE id = $1', [sid], t.databaseUrl))[0]!.revoked_at

describe('a cross-site page with the victim\'s cookies', () => {
  it('cannot log the victim out with a plain form post', async () => {
    const { jar, sid } = await cookieSession()
    const res = await t.app.inject({
      method: 'POST',
      url: '/auth/logout',
      payload: '',
      headers: { cookie: jar, origin: 'https://evil.example', 'sec-fetch-site': 'cross-site', 'content-type': 'application/x-www-form-urlencoded' },
    })
    expect(res.statusCode).toBe(403)
    expect(res.json().error).toBe('csrf_rejected')
    expect(await revokedAt(sid)).toBeNull()
  })

  it('cannot refresh or log out even when it sets the transport header (its Origin is not allowed)', async () => {
    const { jar, sid } = await cookieSession()
    for (const url of ['/auth/refresh', '/auth/logout']) {
      const res = await t.app.inject({
        method: 'POST',
        url,
        headers: { ...COOKIE, cookie: jar, origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' },
      })
      expect(res.statusCode).toBe(403)
      expect(res.json().error).toBe('csrf_rejected')
    }
    expect(await revokedAt(sid)).toBeNull()
  })

  it('our own pages and allowlisted origins pass', async () => {
    const own = await cookieSession()
    const self = await t.app.inject({
      method: 'POST',
      url: '/auth/refresh',
      headers: { ...COOKIE, cookie: own.jar, origin: 'http://localhost:80', host: 'localhost:80', 'sec-fetch-site': 'same-origin' },
    })
    expect(self.statusCode).toBe(200)
    const other = await cookieSession()
    const listed = await t.app.inject({
      method: 'POST',
      url: '/auth/logout',
      headers: { ...COOKIE, cookie: other.jar, origin: APP, 'sec-fetch-site': 'cross-site' },
    })
    expect(listed.statusCode).toBe(204)
  })

  it('Bearer requests are not subject to the check', async () => {
    const s = await loginBearer(t.app)
    const res = await t.app.inject({
      method: 'POST',
      url: '/auth/logout',
      headers: { authorization: `Bearer ${s.accessToken}`, origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' },
    })
    expect(res.statusCode).toBe(204)
  })
})

describe('CORS', () => {
  it('allows credentials for an allowlisted origin, with the transport header', async () => {
    const res = await t.app.inject({
      method: 'OPTIONS',
      url: '/auth/refresh',
      headers: { origin: APP, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,x-auth-transport' },
    })
    expect(res.statusCode).toBe(204)
    expect(res.headers['access-control-allow-origin']).toBe(APP)
    expect(res.headers['access-control-allow-credentials']).toBe('true')
    expect(String(res.headers['access-control-allow-headers'])).toContain('x-auth-transport')
  })

  it('gives any other origin nothing', async () => {
    const res = await t.app.inject({
      method: 'OPTIONS',
      url: '/auth/refresh',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    })
    expect(res.headers['access-control-allow-origin']).toBeUndefined()
    expect(res.headers['access-control-allow-credentials']).toBeUndefined()
  })
})

describe('security headers', () => {
  it('the JSON answers, errors included: nosniff and no-store, and no page headers they have no use for', async () => {
    for (const url of ['/auth/me', '/auth/nope']) {
      const res = await t.app.inject({ url })
      expect(res.headers['x-content-type-options']).toBe('nosniff')
      expect(res.headers['cache-control']).toBe('no-store')
      expect(res.headers['content-security-policy']).toBeUndefined()
    }
    // The key set may be cached, and says so itself.
    const jwks = await t.app.inject({ url: '/auth/.well-known/jwks.json' })
    expect(jwks.headers['x-content-type-options']).toBe('nosniff')
    expect(jwks.headers['cache-control']).toBe('public, max-age=300')
    expect((await t.app.inject({ url: '/nope' })).headers['x-content-type-options']).toBe('nosniff')
  })

  it('the pages (docs, demo) get a CSP that loads scripts from this origin only, and refuse framing', async () => {
    for (const url of ['/', '/docs/']) {
      const res = await t.app.inject({ url })
      expect(res.statusCode, url).toBeLessThan(400)
      expect(res.headers['content-security-policy']).toContain("default-src 'self'")
      expect(res.headers['content-security-policy']).toContain("frame-ancestors 'none'")
      expect(res.headers['x-frame-options']).toBe('SAMEORIGIN')
    }
  })

  it('HSTS and upgrade-insecure-requests only when served over https', async () => {
    for (const url of ['/auth/.well-known/jwks.json', '/auth/me', '/']) {
      const plain = await t.app.inject({ url })
      expect(plain.headers['strict-transport-security']).toBeUndefined()
      expect(plain.headers['content-security-policy'] ?? '').not.toContain('upgrade-insecure-requests')
    }
    const secure = await buildTestApp({ env: { COOKIE_SECURE: 'true' } })
    try {
      for (const url of ['/auth/.well-known/jwks.json', '/auth/me', '/']) {
        const res = await secure.app.inject({ url })
        expect(res.headers['strict-transport-security'], url).toContain('max-age=31536000')
      }
      expect((await secure.app.inject({ url: '/' })).headers['content-security-policy']).toContain('upgrade-insecure-requests')
    } finally {
      await secure.close()
    }
  })
})
