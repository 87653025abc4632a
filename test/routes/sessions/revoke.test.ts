import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildTestApp, type TestApp } from '../../helpers/app.js'
import { adminQuery } from '../../helpers/database.js'
import { COOKIE, bearer, cookiesOf, loginBearer, loginCookie, refreshJson, register, sidOf } from '../../helpers/flows.js'
import { get, signup, startCluster, timeUntil, type Cluster } from '../../helpers/instances.js'

let t: TestApp
beforeAll(async () => {
  t = await buildTestApp()
})
afterAll(() => t.close())

const del = (id: string, headers: Record<string, string>) => t.app.inject({ method: 'DELETE', url: `/auth/sessions/${id}`, headers })
const me = (accessToken: string) => t.app.inject({ url: '/auth/me', headers: bearer(accessToken) })
const reasonOf = async (sid: string) =>
  (await adminQuery('SELECT revoked_reason FROM auth.token_families WHERE id = $1', [sid], t.databaseUrl))[0]!.revoked_reason

describe('DELETE /sessions/:id', () => {
  it("revokes one of the caller's other sessions: its refresh and access tokens stop at once", async () => {
    const user = await register(t.app)
    const laptop = await loginBearer(t.app, user.email, user.password)
    const stolenPhone = await loginBearer(t.app, user.email, user.password)
    const res = await del(sidOf(stolenPhone.accessToken), bearer(laptop.accessToken))
    expect(res.statusCode).toBe(204)
    expect(await reasonOf(sidOf(stolenPhone.accessToken))).toBe('user_revoked')
    expect((await me(stolenPhone.accessToken)).json().error).toBe('session_revoked')
    expect((await refreshJson(t.app, stolenPhone.refreshToken)).json().error).toBe('session_revoked')
    // The caller's own session is untouched.
    expect((await me(laptop.accessToken)).statusCode).toBe(200)
    expect((await refreshJson(t.app, laptop.refreshToken)).statusCode).toBe(200)
  })

  it("someone else's session: 404, exactly like an id that does not exist, and it keeps working", async () => {
    const mallory = await loginBearer(t.app)
    const victim = await loginBearer(t.app)
    const theirs = await del(sidOf(victim.accessToken), bearer(mallory.accessToken))
    const nobody = await del(randomUUID(), bearer(mallory.accessToken))
    expect(theirs.statusCode).toBe(404)
    expect(theirs.json()).toEqual({ error: 'session_not_found', error_description: expect.any(String) })
    expect(nobody.body).toBe(theirs.body)
    expect(await reasonOf(sidOf(victim.accessToken))).toBeNull()
    expect((await me(victim.accessToken)).statusCode).toBe(200)
  })

  it('an id that is not a uuid is a 400; no credentials a 401', async () => {
    const s = await loginBearer(t.app)
    expect((await del('not-a-uuid', bearer(s.accessToken))).json().error).toBe('invalid_request')
    expect((await del(randomUUID(), {})).statusCode).toBe(401)
  })

  it('revoking an already revoked session of your own is a 204', async () => {
    const user = await register(t.app)
    const a = await loginBearer(t.app, user.email, user.password)
    const b = await loginBearer(t.app, user.email, user.password)
    expect((await del(sidOf(b.accessToken), bearer(a.accessToken))).statusCode).toBe(204)
    expect((await del(sidOf(b.accessToken), bearer(a.accessToken))).statusCode).toBe(204)
    expect(await reasonOf(sidOf(b.accessToken))).toBe('user_revoked')
  })

  it('revoking the current session by cookie ends it and clears the cookies', async () => {
    const user = await register(t.app)
    const web = await loginCookie(t.app, user)
    const res = await del(web.sid, { ...COOKIE, cookie: `access_token=${web.access}` })
    expect(res.statusCode).toBe(204)
    const c = cookiesOf(res)
    expect([c.access_token?.value, c.refresh_token?.value]).toEqual(['', ''])
    expect((await t.app.inject({ url: '/auth/me', headers: { cookie: `access_token=${web.access}` } })).json().error).toBe('session_revoked')
  })
})

describe('DELETE /sessions/:id across instances', () => {
  let cluster: Cluster
  beforeAll(async () => {
    // Catch-up far beyond the test: only the notification can deliver in time.
    cluster = await startCluster(2, { DENYLIST_SYNC_INTERVAL_MS: '60000' })
  })
  afterAll(() => cluster.close())

  it('a session revoked on A is refused on B within a second', async () => {
    const [a, b] = cluster.instances.map((i) => i.base) as [string, string]
    const s = await signup(a)
    const other = await fetch(`${a}/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: s.email, password: s.password }),
    }).then((r) => r.json() as Promise<{ access_token: string }>)
    expect((await get(b, '/auth/me', bearer(other.access_token))).status).toBe(200)
    const res = await fetch(`${a}/auth/sessions/${sidOf(other.access_token)}`, { method: 'DELETE', headers: bearer(s.accessToken) })
    expect(res.status).toBe(204)
    await timeUntil(async () => (await get(b, '/auth/me', bearer(other.access_token))).status === 401, 1000)
  })
})
