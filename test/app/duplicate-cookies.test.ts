// A request carrying more than one refresh (or access) cookie is refused with 400
// ambiguous_credentials, and nothing is spent, revoked or cleared. A browser sends every
// cookie whose domain and path match, and a sibling subdomain can plant one of our names
// (Domain=.example.com, a longer Path so it is sent first): reading "the first one" would let
// it log the victim into the attacker's account at the next refresh.
import type { LightMyRequestResponse } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ERROR_CATALOGUE } from '../../src/errors.js'
import { hashRefreshToken } from '../../src/tokens/refresh-token.js'
import { buildTestApp, type TestApp } from '../helpers/app.js'
import { adminQuery } from '../helpers/database.js'
import { COOKIE, bearer, cookiesOf, register, sidOf } from '../helpers/flows.js'

const NAME_SETS: Array<{ name: string; env: Record<string, string>; access: string; refresh: string }> = [
  { name: 'development names', env: {}, access: 'access_token', refresh: 'refresh_token' },
  { name: 'production names (COOKIE_SECURE)', env: { COOKIE_SECURE: 'true' }, access: '__Host-access_token', refresh: '__Secure-refresh_token' },
]

describe.each(NAME_SETS)('$name', ({ env, access, refresh }) => {
  let t: TestApp
  beforeAll(async () => {
    t = await buildTestApp({ env })
  })
  afterAll(() => t.close())

  interface Web {
    access: string
    refresh: string
    sid: string
  }

  async function webLogin(): Promise<Web> {
    const user = await register(t.app)
    const res = await t.app.inject({ method: 'POST', url: '/auth/login', payload: user, headers: COOKIE })
    expect(res.statusCode).toBe(200)
    const c = cookiesOf(res)
    return { access: c[access]!.value, refresh: c[refresh]!.value, sid: sidOf(c[access]!.value) }
  }

  /** a Cookie header that may name a cookie more than once, in this order */
  const jar = (pairs: Array<[string, string]>) => pairs.map(([k, v]) => `${k}=${v}`).join('; ')
  const send = (method: 'GET' | 'POST', url: string, cookie: string, extra: Record<string, string> = {}) =>
    t.app.inject({ method, url, headers: { ...COOKIE, cookie, ...extra } })

  const spentAt = async (token: string) =>
    (await adminQuery('SELECT spent_at FROM auth.refresh_tokens WHERE token_hash = $1', [hashRefreshToken(token)], t.databaseUrl))[0]!.spent_at
  const revokedAt = async (sid: string) =>
    (await adminQuery('SELECT revoked_at FROM auth.token_families WHERE id = $1', [sid], t.databaseUrl))[0]!.revoked_at

  function expectAmbiguous(res: LightMyRequestResponse) {
    expect(res.statusCode, res.body).toBe(400)
    expect(res.json()).toEqual({ error: 'ambiguous_credentials', error_description: ERROR_CATALOGUE.ambiguous_credentials.description })
    // Clearing would drop only our own cookie and leave the planted one to be used alone.
    expect(res.headers['set-cookie']).toBeUndefined()
  }

  async function expectUntouched(...sessions: Web[]) {
    for (const s of sessions) {
      expect(await spentAt(s.refresh)).toBeNull()
      expect(await revokedAt(s.sid)).toBeNull()
    }
  }

  describe('POST /auth/refresh', () => {
    it("two refresh cookies (an attacker's planted first) → 400; neither token is spent, no family revoked", async () => {
      const victim = await webLogin()
      const attacker = await webLogin()
      expectAmbiguous(await send('POST', '/auth/refresh', jar([[refresh, attacker.refresh], [refresh, victim.refresh]])))
      expectAmbiguous(await send('POST', '/auth/refresh', jar([[refresh, victim.refresh], [refresh, attacker.refresh]])))
      await expectUntouched(victim, attacker)
    })

    it('the same refresh token twice → 400 as well: the count decides, not the values', async () => {
      const s = await webLogin()
      expectAmbiguous(await send('POST', '/auth/refresh', jar([[refresh, s.refresh], [refresh, s.refresh]])))
      await expectUntouched(s)
    })

    it('a second copy in a second Cookie header line, or spelled with spaces around the name → 400', async () => {
      const s = await webLogin()
      const other = await webLogin()
      const twoLines = await t.app.inject({
        method: 'POST',
        url: '/auth/refresh',
        headers: { ...COOKIE, cookie: [`${refresh}=${other.refresh}`, `${refresh}=${s.refresh}`] as unknown as string },
      })
      expectAmbiguous(twoLines)
      expectAmbiguous(await send('POST', '/auth/refresh', `${refresh}=${other.refresh};\t ${refresh} =${s.refresh}`))
      await expectUntouched(s, other)
    })

    it('one refresh cookie and one access cookie still refresh', async () => {
      const s = await webLogin()
      const res = await send('POST', '/auth/refresh', jar([[access, s.access], [refresh, s.refresh]]))
      expect(res.statusCode, res.body).toBe(200)
      expect(cookiesOf(res)[refresh]!.value).not.toBe(s.refresh)
    })

    it('cookies whose names only contain ours are other cookies', async () => {
      const s = await webLogin()
      const res = await send('POST', '/auth/refresh', jar([[`x${refresh}`, 'a'], [`${refresh}_old`, 'b'], [refresh, s.refresh]]))
      expect(res.statusCode, res.body).toBe(200)
    })

    it('a refresh token in the body decides alone: the cookies are not read, so they cannot be ambiguous', async () => {
      const s = await webLogin()
      const other = await webLogin()
      const res = await t.app.inject({
        method: 'POST',
        url: '/auth/refresh',
        payload: { refresh_token: s.refresh },
        headers: { ...COOKIE, cookie: jar([[refresh, other.refresh], [refresh, other.refresh]]) },
      })
      expect(res.statusCode, res.body).toBe(200)
      expect(await spentAt(s.refresh)).not.toBeNull()
      await expectUntouched(other)
    })
  })

  describe('POST /auth/logout', () => {
    it('two refresh cookies → 400; no family revoked, no cookie cleared', async () => {
      const victim = await webLogin()
      const attacker = await webLogin()
      expectAmbiguous(await send('POST', '/auth/logout', jar([[access, victim.access], [refresh, attacker.refresh], [refresh, victim.refresh]])))
      await expectUntouched(victim, attacker)
    })

    it('one refresh cookie but two access cookies → 400 before anything is revoked', async () => {
      const victim = await webLogin()
      const attacker = await webLogin()
      expectAmbiguous(await send('POST', '/auth/logout', jar([[access, attacker.access], [access, victim.access], [refresh, victim.refresh]])))
      await expectUntouched(victim, attacker)
    })

    it('two access cookies and no refresh cookie → 400', async () => {
      const victim = await webLogin()
      const attacker = await webLogin()
      expectAmbiguous(await send('POST', '/auth/logout', jar([[access, attacker.access], [access, victim.access]])))
      await expectUntouched(victim, attacker)
    })

    it('one cookie of each kind still logs out', async () => {
      const s = await webLogin()
      const res = await send('POST', '/auth/logout', jar([[access, s.access], [refresh, s.refresh]]))
      expect(res.statusCode, res.body).toBe(204)
      expect(await revokedAt(s.sid)).not.toBeNull()
    })
  })

  describe('POST /auth/password', () => {
    it('two refresh cookies → 400; the password and the session are unchanged', async () => {
      const s = await webLogin()
      const other = await webLogin()
      const before = await adminQuery('SELECT password_hash FROM auth.users u JOIN auth.token_families f ON f.user_id = u.id WHERE f.id = $1', [s.sid], t.databaseUrl)
      const res = await t.app.inject({
        method: 'POST',
        url: '/auth/password',
        payload: { current_password: 'correct horse battery', new_password: 'another good password' },
        headers: { ...COOKIE, cookie: jar([[access, s.access], [refresh, other.refresh], [refresh, s.refresh]]) },
      })
      expectAmbiguous(res)
      expect(await adminQuery('SELECT password_hash FROM auth.users u JOIN auth.token_families f ON f.user_id = u.id WHERE f.id = $1', [s.sid], t.databaseUrl)).toEqual(before)
      await expectUntouched(s, other)
    })
  })

  describe('protected routes (GET /me)', () => {
    it("two access cookies (an attacker's first) → 400", async () => {
      const victim = await webLogin()
      const attacker = await webLogin()
      expectAmbiguous(await send('GET', '/auth/me', jar([[access, attacker.access], [access, victim.access]])))
      expectAmbiguous(await t.app.inject({ url: '/auth/me', headers: { cookie: jar([[access, victim.access], [access, victim.access]]) } }))
    })

    it('one access cookie still works', async () => {
      const s = await webLogin()
      const res = await t.app.inject({ url: '/auth/me', headers: { cookie: jar([[access, s.access]]) } })
      expect(res.statusCode, res.body).toBe(200)
      expect(res.json().session_id).toBe(s.sid)
    })

    it('an Authorization header decides alone: the cookies are not read, so they cannot be ambiguous', async () => {
      const s = await webLogin()
      const other = await webLogin()
      const res = await t.app.inject({ url: '/auth/me', headers: { ...bearer(s.access), cookie: jar([[access, other.access], [access, other.access]]) } })
      expect(res.statusCode, res.body).toBe(200)
      expect(res.json().session_id).toBe(s.sid)
    })
  })

  describe("the CSRF check's view of the cookies", () => {
    it('a cross-site form post carrying two refresh cookies is still seen as cookie-carrying: 403, nothing revoked', async () => {
      const victim = await webLogin()
      const attacker = await webLogin()
      const res = await t.app.inject({
        method: 'POST',
        url: '/auth/logout',
        payload: '',
        headers: {
          cookie: jar([[refresh, attacker.refresh], [refresh, victim.refresh]]),
          origin: 'https://evil.example',
          'sec-fetch-site': 'cross-site',
          'content-type': 'application/x-www-form-urlencoded',
        },
      })
      expect(res.statusCode, res.body).toBe(403)
      expect(res.json().error).toBe('csrf_rejected')
      await expectUntouched(victim, attacker)
    })

    it('a cookie of ours spelled with spaces around its name is one of ours to the CSRF check too', async () => {
      const s = await webLogin()
      const res = await t.app.inject({
        method: 'POST',
        url: '/auth/logout',
        headers: { cookie: ` \t${refresh} =${s.refresh}`, origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' },
      })
      expect(res.statusCode, res.body).toBe(403)
      await expectUntouched(s)
    })
  })
})
