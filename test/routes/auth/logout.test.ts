import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildTestApp, type TestApp } from '../../helpers/app.js'
import { adminQuery } from '../../helpers/database.js'
import { COOKIE, cookieHeader, cookiesOf, loginBearer, refreshJson, register } from '../../helpers/flows.js'

let t: TestApp
beforeAll(async () => {
  t = await buildTestApp()
})
afterAll(() => t.close())

const sidOf = (accessToken: string) => JSON.parse(Buffer.from(accessToken.split('.')[1]!, 'base64url').toString()).sid as string
const me = (accessToken: string) => t.app.inject({ url: '/me', headers: { authorization: `Bearer ${accessToken}` } })
const reasonOf = async (sid: string) =>
  (await adminQuery('SELECT revoked_reason FROM token_families WHERE id = $1', [sid], t.databaseUrl))[0]!.revoked_reason

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
    const meRes = await t.app.inject({ url: '/me', headers: { cookie: cookieHeader({ access_token: login.access_token!.value }) } })
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
