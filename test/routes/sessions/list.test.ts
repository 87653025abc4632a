import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildTestApp, type TestApp } from '../../helpers/app.js'
import { adminQuery } from '../../helpers/database.js'
import { bearer, loginBearer, loginCookie, refreshJson, register, sidOf } from '../../helpers/flows.js'

let t: TestApp
beforeAll(async () => {
  t = await buildTestApp()
})
afterAll(() => t.close())

const list = (headers: Record<string, string>) => t.app.inject({ url: '/auth/sessions', headers })
const loginAs = (user: { email: string; password: string }, ua: string) =>
  t.app.inject({ method: 'POST', url: '/auth/login', payload: user, headers: { 'user-agent': ua } }).then((r) => r.json())

describe('GET /sessions', () => {
  it("lists the caller's live sessions: id = sid, times, user agent, IP, and which one is current", async () => {
    const user = await register(t.app)
    const phone = await loginAs(user, 'Phone/1.0')
    const laptop = await loginAs(user, 'Laptop/2.0')
    const res = await list(bearer(laptop.access_token))
    expect(res.statusCode).toBe(200)
    const { sessions } = res.json()
    expect(sessions).toHaveLength(2)
    const byId = Object.fromEntries(sessions.map((s: { id: string }) => [s.id, s]))
    expect(byId[sidOf(laptop.access_token)]).toEqual({
      id: sidOf(laptop.access_token),
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      last_used_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      expires_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      user_agent: 'Laptop/2.0',
      ip: '127.0.0.1',
      current: true,
    })
    expect(byId[sidOf(phone.access_token)]).toMatchObject({ user_agent: 'Phone/1.0', current: false })
  })

  it('works with the access cookie too', async () => {
    const user = await register(t.app)
    const web = await loginCookie(t.app, user)
    await loginBearer(t.app, user.email, user.password)
    const res = await list({ cookie: `access_token=${web.access}` })
    expect(res.statusCode).toBe(200)
    const current = res.json().sessions.filter((s: { current: boolean }) => s.current)
    expect(current.map((s: { id: string }) => s.id)).toEqual([web.sid])
  })

  it('leaves out logged-out, expired and idled-out sessions, and other users\' sessions', async () => {
    const user = await register(t.app)
    const keep = await loginBearer(t.app, user.email, user.password)
    const loggedOut = await loginBearer(t.app, user.email, user.password)
    const expired = await loginBearer(t.app, user.email, user.password)
    const idle = await loginBearer(t.app, user.email, user.password)
    await loginBearer(t.app) // someone else
    await t.app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: loggedOut.refreshToken } })
    await adminQuery(`UPDATE auth.token_families SET expires_at = now() - interval '1 second' WHERE id = $1`, [sidOf(expired.accessToken)], t.databaseUrl)
    await adminQuery(`UPDATE auth.refresh_tokens SET expires_at = now() - interval '1 second' WHERE family_id = $1`, [sidOf(idle.accessToken)], t.databaseUrl)
    const ids = (await list(bearer(keep.accessToken))).json().sessions.map((s: { id: string }) => s.id)
    expect(ids).toEqual([sidOf(keep.accessToken)])
  })

  it('a refresh moves last_used_at and keeps the id', async () => {
    const s = await loginBearer(t.app)
    const before = (await list(bearer(s.accessToken))).json().sessions[0]
    await new Promise((r) => setTimeout(r, 20))
    const rotated = (await refreshJson(t.app, s.refreshToken)).json()
    const after = (await list(bearer(rotated.access_token))).json().sessions[0]
    expect(after.id).toBe(before.id)
    expect(after.created_at).toBe(before.created_at)
    expect(Date.parse(after.last_used_at)).toBeGreaterThan(Date.parse(before.last_used_at))
  })

  it('needs a valid, unrevoked access token', async () => {
    expect((await list({})).json().error).toBe('unauthorized')
    const s = await loginBearer(t.app)
    await t.app.inject({ method: 'POST', url: '/auth/logout', headers: bearer(s.accessToken) })
    const res = await list(bearer(s.accessToken))
    expect([res.statusCode, res.json().error]).toEqual([401, 'session_revoked'])
  })
})
