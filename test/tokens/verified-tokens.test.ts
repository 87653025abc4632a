// The cache of verified access tokens: what it remembers, for how long, and that nothing it
// remembers outlives the token or the session.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { isCompactJws, VerifiedTokens } from '../../src/access-tokens.js'
import type { AccessClaims } from '../../src/auth/access-claims.js'
import { buildTestApp, type TestApp } from '../helpers/app.js'
import { bearer, loginBearer } from '../helpers/flows.js'

const claims = (exp: number): AccessClaims => ({ sub: 'u', sid: 's', email: 'e@example.com', email_verified: true, iat: exp - 60, exp, iss: 'i', aud: 'a', jti: 'j' })
const inSeconds = (s: number) => Math.floor(Date.now() / 1000) + s

describe('VerifiedTokens', () => {
  it('answers only for the exact text it was given', () => {
    const cache = new VerifiedTokens(10)
    cache.set('a.b.c', claims(inSeconds(60)))
    expect(cache.get('a.b.c')?.sub).toBe('u')
    expect(cache.get('a.b.C')).toBeUndefined()
    expect(cache.get('a.b.c ')).toBeUndefined()
  })

  it('files tokens by their end but matches only the whole text: a token ending like a remembered one is not it', () => {
    const cache = new VerifiedTokens(10)
    const end = 'x'.repeat(40)
    cache.set(`one.${end}`, claims(inSeconds(60)))
    expect(cache.get(`two.${end}`)).toBeUndefined()
    expect(cache.get(`one.${end}`)?.sub).toBe('u')
    // Two verified tokens ending alike take each other's place, never each other's claims.
    cache.set(`two.${end}`, { ...claims(inSeconds(60)), sub: 'v' })
    expect(cache.get(`one.${end}`)).toBeUndefined()
    expect(cache.get(`two.${end}`)?.sub).toBe('v')
    expect(cache.size).toBe(1)
  })

  it('forgets a token the moment it expires', () => {
    vi.useFakeTimers({ now: new Date('2026-12-01T12:00:00Z') })
    try {
      const cache = new VerifiedTokens(10)
      cache.set('t', claims(inSeconds(30)))
      vi.advanceTimersByTime(29_999)
      expect(cache.get('t')).toBeDefined()
      vi.advanceTimersByTime(1)
      expect(cache.get('t')).toBeUndefined()
      expect(cache.size).toBe(0)
    } finally {
      vi.useRealTimers()
    }
  })

  it('holds at most max entries, dropping the oldest first; 0 holds none', () => {
    const cache = new VerifiedTokens(3)
    for (const t of ['1', '2', '3', '4']) cache.set(t, claims(inSeconds(60)))
    expect(cache.size).toBe(3)
    expect(cache.get('1')).toBeUndefined()
    expect(cache.get('4')).toBeDefined()
    const none = new VerifiedTokens(0)
    none.set('1', claims(inSeconds(60)))
    expect(none.get('1')).toBeUndefined()
  })

  it('hands out claims no route can change for the next request', () => {
    const cache = new VerifiedTokens(1)
    cache.set('t', claims(inSeconds(60)))
    expect(() => {
      ;(cache.get('t') as { sub: string }).sub = 'someone else'
    }).toThrow(TypeError)
    expect(cache.get('t')?.sub).toBe('u')
  })
})

describe('isCompactJws', () => {
  it('takes three base64url parts and nothing else', () => {
    expect(isCompactJws('eyJh.eyJz-_.c2ln')).toBe(true)
    for (const bad of ['', 'a.b', 'a.b.c.d', 'a..c', '.b.c', 'a.b.', 'a.b.c ', 'a.b. c', 'a.b.c\t', 'a.b.c=', 'a.b.c+/', 'a.b.ü']) {
      expect(isCompactJws(bad), JSON.stringify(bad)).toBe(false)
    }
  })
})

describe('a remembered token on the routes', () => {
  let t: TestApp
  beforeAll(async () => {
    t = await buildTestApp()
  })
  afterAll(() => t.close())

  it('a revoked session is refused although its token was verified a moment ago', async () => {
    const s = await loginBearer(t.app)
    expect((await t.app.inject({ url: '/auth/me', headers: bearer(s.accessToken) })).statusCode).toBe(200)
    expect((await t.app.inject({ method: 'POST', url: '/auth/logout', headers: bearer(s.accessToken) })).statusCode).toBe(204)
    const again = await t.app.inject({ url: '/auth/me', headers: bearer(s.accessToken) })
    expect(again.statusCode).toBe(401)
    expect(again.json().error).toBe('session_revoked')
  })

  it('a token one character off from a remembered one is verified afresh, and refused', async () => {
    const s = await loginBearer(t.app)
    expect((await t.app.inject({ url: '/auth/me', headers: bearer(s.accessToken) })).statusCode).toBe(200)
    const last = s.accessToken.at(-2) === 'A' ? 'B' : 'A'
    const forged = `${s.accessToken.slice(0, -2)}${last}${s.accessToken.at(-1)}`
    const res = await t.app.inject({ url: '/auth/me', headers: bearer(forged) })
    expect(res.statusCode).toBe(401)
    expect(res.json().error).toBe('invalid_token')
  })
})
