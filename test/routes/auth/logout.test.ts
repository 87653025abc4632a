import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildTestApp, type TestApp } from '../../helpers/app.js'
import { adminQuery } from '../../helpers/database.js'
import { COOKIE, bearer, cookieHeader, cookiesOf, loginBearer, loginCookie, refreshJson, register, sidOf } from '../../helpers/flows.js'
import { get, post, signup, startCluster, timeUntil, type Cluster } from '../../helpers/instances.js'

let t: TestApp
beforeAll(async () => {
  t = await buildTestApp()
})
afterAll(() => t.close())

const me = (accessToken: string) => t.app.inject({ url: '/auth/me', headers: { authorization: `Bearer ${accessToken}` } })
const reasonOf = async (sid: string) =>
  (await adminQuery('SELECT revoked_reason FROM auth.token_families WHERE id = $1', [sid], t.databaseUrl))[0]!.revoked_reason

describe('POST /auth/logout', () => {
  it('by refresh token: revokes the family; its refresh and access tokens stop working', async () => {
    const s = await loginBearer(t.app)
    const res = await t.app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: s.refreshToken } })
    expect(res.statusCode).toBe(204)
    expect(await reasonOf(sidOf(s.accessToken))).toBe('logout')
    expect((await refreshJson(t.app, s.refreshToken)).json().error).toBe('session_revoked')
    expect((await me(s.accessToken)).json().error).toBe('session_revoked')
  })

  it('by the sid of a Bearer access token', async () => {
    const s = await loginBearer(t.app)
    const res = await t.app.inject({ method: 'POST', url: '/auth/logout', headers: { authorization: `Bearer ${s.accessToken}` } })
    expect(res.statusCode).toBe(204)
    expect(await reasonOf(sidOf(s.accessToken))).toBe('logout')
    expect((await refreshJson(t.app, s.refreshToken)).json().error).toBe('session_revoked')
  })

  it('by cookies: revokes and clears both cookies', async () => {
    const user = await register(t.app)
    const login = cookiesOf(await t.app.inject({ method: 'POST', url: '/auth/login', payload: user, headers: COOKIE }))
    const res = await t.app.inject({
      method: 'POST',
      url: '/auth/logout',
      headers: { ...COOKIE, cookie: cookieHeader({ refresh_token: login.refresh_token!.value, access_token: login.access_token!.value }) },
    })
    expect(res.statusCode).toBe(204)
    const c = cookiesOf(res)
    expect(c.refresh_token!.value).toBe('')
    expect(c.access_token!.value).toBe('')
    const meRes = await t.app.inject({ url: '/auth/me', headers: { cookie: cookieHeader({ access_token: login.access_token!.value }) } })
    expect(meRes.json().error).toBe('session_revoked')
  })

  it('leaves the same user\'s other sessions alone', async () => {
    const user = await register(t.app)
    const a = await loginBearer(t.app, user.email, user.password)
    const b = await loginBearer(t.app, user.email, user.password)
    await t.app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: a.refreshToken } })
    expect((await me(b.accessToken)).statusCode).toBe(200)
    expect((await refreshJson(t.app, b.refreshToken)).statusCode).toBe(200)
  })

  it('without credentials answers 401; with an unknown refresh token 401 invalid_refresh_token', async () => {
    const none = await t.app.inject({ method: 'POST', url: '/auth/logout' })
    expect([none.statusCode, none.json().error]).toEqual([401, 'unauthorized'])
    const unknown = await t.app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: 'A'.repeat(43) } })
    expect([unknown.statusCode, unknown.json().error]).toEqual([401, 'invalid_refresh_token'])
  })

  it('is idempotent for an already revoked session', async () => {
    const s = await loginBearer(t.app)
    const first = await t.app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: s.refreshToken } })
    const second = await t.app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: s.refreshToken } })
    expect([first.statusCode, second.statusCode]).toEqual([204, 204])
    expect(await reasonOf(sidOf(s.accessToken))).toBe('logout')
  })
})

describe('POST /auth/logout?scope=', () => {
  const logout = (scope: string, headers: Record<string, string>, payload?: object) =>
    t.app.inject({ method: 'POST', url: `/auth/logout?scope=${scope}`, headers, payload })

  async function threeSessions() {
    const user = await register(t.app)
    const here = await loginBearer(t.app, user.email, user.password)
    const phone = await loginBearer(t.app, user.email, user.password)
    const tablet = await loginBearer(t.app, user.email, user.password)
    const stranger = await loginBearer(t.app)
    return { here, phone, tablet, stranger }
  }

  it('others: every other session of the account ends; this one and other accounts stay', async () => {
    const { here, phone, tablet, stranger } = await threeSessions()
    const res = await logout('others', bearer(here.accessToken))
    expect(res.statusCode).toBe(204)
    for (const s of [phone, tablet]) {
      expect(await reasonOf(sidOf(s.accessToken))).toBe('logout')
      expect((await me(s.accessToken)).json().error).toBe('session_revoked')
      expect((await refreshJson(t.app, s.refreshToken)).json().error).toBe('session_revoked')
    }
    expect(await reasonOf(sidOf(here.accessToken))).toBeNull()
    expect((await me(here.accessToken)).statusCode).toBe(200)
    expect((await refreshJson(t.app, here.refreshToken)).statusCode).toBe(200)
    expect((await me(stranger.accessToken)).statusCode).toBe(200)
  })

  it('all: every session of the account ends, this one included', async () => {
    const { here, phone, tablet, stranger } = await threeSessions()
    expect((await logout('all', bearer(here.accessToken))).statusCode).toBe(204)
    for (const s of [here, phone, tablet]) {
      expect(await reasonOf(sidOf(s.accessToken))).toBe('logout')
      expect((await me(s.accessToken)).json().error).toBe('session_revoked')
    }
    expect((await me(stranger.accessToken)).statusCode).toBe(200)
  })

  it('current is the default: only this session ends', async () => {
    const { here, phone } = await threeSessions()
    expect((await logout('current', bearer(here.accessToken))).statusCode).toBe(204)
    expect(await reasonOf(sidOf(here.accessToken))).toBe('logout')
    expect(await reasonOf(sidOf(phone.accessToken))).toBeNull()
  })

  it('all and others need a valid access token; a refresh token alone is not enough', async () => {
    const { here, phone } = await threeSessions()
    const none = await logout('all', {}, { refresh_token: here.refreshToken })
    expect([none.statusCode, none.json().error]).toEqual([401, 'unauthorized'])
    // A revoked session cannot be used to end the others.
    await logout('current', bearer(phone.accessToken))
    const revoked = await logout('others', bearer(phone.accessToken))
    expect([revoked.statusCode, revoked.json().error]).toEqual([401, 'session_revoked'])
    expect(await reasonOf(sidOf(here.accessToken))).toBeNull()
  })

  it('an unknown scope is a 400 and changes nothing', async () => {
    const { here } = await threeSessions()
    const res = await logout('everyone', bearer(here.accessToken))
    expect([res.statusCode, res.json().error]).toEqual([400, 'invalid_request'])
    expect(await reasonOf(sidOf(here.accessToken))).toBeNull()
  })

  it('by cookie: all clears the cookies, others keeps them', async () => {
    const user = await register(t.app)
    const web = await loginCookie(t.app, user)
    const phone = await loginBearer(t.app, user.email, user.password)
    const others = await logout('others', web.headers)
    expect(others.statusCode).toBe(204)
    expect(others.cookies).toEqual([])
    expect((await me(phone.accessToken)).json().error).toBe('session_revoked')
    const all = await logout('all', web.headers)
    expect(all.statusCode).toBe(204)
    expect(cookiesOf(all).access_token!.value).toBe('')
    expect(await reasonOf(web.sid)).toBe('logout')
  })
})

describe('logout everywhere across instances', () => {
  let cluster: Cluster
  beforeAll(async () => {
    // Catch-up far beyond the test: only notifications can deliver in time.
    cluster = await startCluster(2, { DENYLIST_SYNC_INTERVAL_MS: '60000' })
  })
  afterAll(() => cluster.close())

  it('scope=all on A: every one of the account\'s access tokens fails on B within a second', async () => {
    const [a, b] = cluster.instances.map((i) => i.base) as [string, string]
    const s = await signup(a)
    const more = await Promise.all([1, 2, 3].map(() => post(a, '/auth/login', { email: s.email, password: s.password })))
    const tokens = [s.accessToken, ...more.map((r) => r.json.access_token as string)]
    for (const tok of tokens) expect((await get(b, '/auth/me', bearer(tok))).status).toBe(200)
    expect((await post(a, '/auth/logout?scope=all', undefined, bearer(s.accessToken))).status).toBe(204)
    await timeUntil(async () => {
      const statuses = await Promise.all(tokens.map(async (tok) => (await get(b, '/auth/me', bearer(tok))).status))
      return statuses.every((s) => s === 401)
    }, 1000)
  })
})
