// The account routes through the SDK, in both transports: sessions (list, revoke), the
// activity log, logout of other or all sessions, and the password change, which rotates
// this session's tokens and must not log out on a 401 unless the session is over.
import { describe, expect, it, vi } from 'vitest'
import { AuthError, createAuthClient, memoryStorage, type AuthClientOptions, type AuthEvent } from '../../client/src/index.js'
import { FakeApi, FakeHub, FakeLocks, apiError, recordingSleep, tick, type Call, type FakeEvent } from './fakes.js'

const PASSWORD = 'correct horse battery'
const NEW_PASSWORD = 'a much better passphrase'

async function loggedIn(transport: 'cookie' | 'bearer', extra: Partial<AuthClientOptions> = {}) {
  const api = new FakeApi()
  const storage = memoryStorage()
  const onLogout = vi.fn()
  const events: AuthEvent[] = []
  const { waits, sleep } = recordingSleep()
  const client = createAuthClient({ baseUrl: 'http://api.test', transport, fetch: api.fetch, storage, onLogout, sleep, crossTab: false, ...extra })
  await client.login('ada@example.com', PASSWORD)
  client.subscribe((e) => events.push(e))
  api.calls = []
  return { api, storage, onLogout, events, waits, client }
}

/** The credentials a request carried, whichever the transport. */
function credentialsOf(call: Call) {
  return call.headers.get('authorization') ?? (call.cookies.access ? `cookie ${call.cookies.access}` : null)
}

const event = (n: number): FakeEvent => ({
  id: `e${n}`,
  type: 'login_success',
  session_id: 's1',
  reason: null,
  ip: '127.0.0.1',
  user_agent: null,
  created_at: new Date(Date.UTC(2030, 0, 1, 0, 0, n)).toISOString(),
})

for (const transport of ['cookie', 'bearer'] as const) {
  describe(`${transport}: sessions`, () => {
    it('sessions() lists the live sessions, this one marked current, with this transport', async () => {
      const { api, client } = await loggedIn(transport)
      api.issue() // a login on another device: s2
      const sessions = await client.sessions()
      expect(sessions.map((s) => [s.id, s.current])).toEqual([
        ['s1', true],
        ['s2', false],
      ])
      expect(sessions[0]).toMatchObject({ created_at: expect.any(String), last_used_at: expect.any(String), expires_at: expect.any(String), ip: '127.0.0.1', user_agent: null })
      const [call] = api.calls
      expect(`${call!.method} ${call!.path}`).toBe('GET /auth/sessions')
      if (transport === 'bearer') {
        expect(call!.headers.get('authorization')).toMatch(/^Bearer a\d+$/)
        expect(call!.credentials).toBe('omit')
      } else {
        expect(call!.headers.get('x-auth-transport')).toBe('cookie')
        expect(call!.credentials).toBe('include')
      }
    })

    it('sessions() after the access token expired refreshes once and retries', async () => {
      const { api, client } = await loggedIn(transport)
      api.expireAccess()
      expect(await client.sessions()).toHaveLength(1)
      expect(api.calls.map((c) => c.path)).toEqual(['/auth/sessions', '/auth/refresh', '/auth/sessions'])
    })

    it('revokeSession(another id) ends that session only', async () => {
      const { api, client, onLogout } = await loggedIn(transport)
      api.issue()
      await client.revokeSession('s2')
      expect(api.calls.map((c) => `${c.method} ${c.path}`)).toEqual(['DELETE /auth/sessions/s2'])
      expect(api.sessions.get('s2')!.revoked).toBe(true)
      expect((await client.sessions()).map((s) => s.id)).toEqual(['s1'])
      expect(client.state).toBe('authenticated')
      expect(onLogout).not.toHaveBeenCalled()
    })

    it('revokeSession(this session, as me() named it) logs this client out too', async () => {
      const { client, storage, onLogout, events } = await loggedIn(transport)
      const { session_id } = await client.me()
      await client.revokeSession(session_id)
      expect(client.state).toBe('anonymous')
      expect(onLogout).toHaveBeenCalledWith({ reason: 'logout', remote: false })
      expect(events).toEqual([{ type: 'logout', reason: 'logout', remote: false }])
      expect(await storage.get()).toBeNull()
    })

    it('revokeSession(this session, as sessions() marked it) logs this client out too', async () => {
      const { client, onLogout } = await loggedIn(transport)
      const current = (await client.sessions()).find((s) => s.current)!
      await client.revokeSession(current.id)
      expect(client.state).toBe('anonymous')
      expect(onLogout).toHaveBeenCalledTimes(1)
    })

    it('a me() answer about the previous session, landing after a new login, is not taken for this one', async () => {
      const { api, client, onLogout } = await loggedIn(transport)
      let release!: () => void
      const gate = new Promise<void>((r) => (release = r))
      api.plan('/auth/me', async (call) => {
        await gate
        return api.route(call) // answered for s1, whose access token the request carried
      })
      const late = client.me()
      await tick() // sent, with s1's credentials
      await client.login('ada@example.com', PASSWORD) // s2
      release()
      expect((await late).session_id).toBe('s1')
      await client.revokeSession('s1')
      expect(client.state).toBe('authenticated')
      expect(onLogout).not.toHaveBeenCalled()
      expect((await client.me()).session_id).toBe('s2')
    })

    it("revokeSession of an unknown id is rejected (404) and changes nothing; the id is escaped", async () => {
      const { api, client, onLogout } = await loggedIn(transport)
      await expect(client.revokeSession('../me')).rejects.toMatchObject({ kind: 'rejected', code: 'session_not_found', status: 404 })
      expect(api.calls[0]!.path).toBe('/auth/sessions/..%2Fme')
      expect(client.state).toBe('authenticated')
      expect(onLogout).not.toHaveBeenCalled()
      await expect(client.revokeSession('')).rejects.toThrow(TypeError)
    })
  })

  describe(`${transport}: events`, () => {
    it('events() pages through the activity log with limit and cursor', async () => {
      const { api, client } = await loggedIn(transport)
      api.events = [event(3), event(2), event(1)]
      const first = await client.events({ limit: 2 })
      expect(first.events.map((e) => e.id)).toEqual(['e3', 'e2'])
      expect(first.next_cursor).not.toBeNull()
      const second = await client.events({ limit: 2, cursor: first.next_cursor! })
      expect(second).toEqual({ events: [event(1)], next_cursor: null })
      expect(api.calls.map((c) => [c.path, Object.fromEntries(c.query)])).toEqual([
        ['/auth/sessions/events', { limit: '2' }],
        ['/auth/sessions/events', { limit: '2', cursor: first.next_cursor }],
      ])
      expect(api.calls.every((c) => credentialsOf(c) !== null)).toBe(true)
    })

    it('events() without options sends no query; a cursor is escaped', async () => {
      const { api, client } = await loggedIn(transport)
      await client.events()
      await client.events({ cursor: 'a&b=c' })
      expect(api.calls.map((c) => [...c.query])).toEqual([[], [['cursor', 'a&b=c']]])
    })

    it('events() answered 400 throws a rejected AuthError, session kept', async () => {
      const { api, client, onLogout } = await loggedIn(transport)
      api.plan('/auth/sessions/events', apiError(400, 'invalid_request'))
      await expect(client.events({ cursor: 'bad' })).rejects.toMatchObject({ kind: 'rejected', code: 'invalid_request', status: 400 })
      expect(onLogout).not.toHaveBeenCalled()
    })

    it('events() when the session is over: definitive, logged out by the refresh', async () => {
      const { api, client, onLogout } = await loggedIn(transport)
      api.revoke('s1')
      await expect(client.events()).rejects.toMatchObject({ kind: 'definitive', status: 401 })
      expect(onLogout).toHaveBeenCalledWith({ reason: 'session_revoked', remote: false })
    })
  })

  describe(`${transport}: logout scopes`, () => {
    it("logout({ scope: 'others' }) ends the other sessions and keeps this one", async () => {
      const { api, client, onLogout, storage } = await loggedIn(transport)
      api.issue()
      const before = await storage.get()
      await client.logout({ scope: 'others' })
      expect(api.calls.map((c) => `${c.method} ${c.path}?${c.query}`)).toEqual(['POST /auth/logout?scope=others'])
      expect(api.sessions.get('s2')!.revoked).toBe(true)
      expect(client.state).toBe('authenticated')
      expect(await storage.get()).toEqual(before)
      expect((await client.me()).session_id).toBe('s1')
      expect(onLogout).not.toHaveBeenCalled()
    })

    it("logout({ scope: 'all' }) ends every session, this one included", async () => {
      const { api, client, onLogout, storage } = await loggedIn(transport)
      api.issue()
      await client.logout({ scope: 'all' })
      expect(api.calls.map((c) => `${c.method} ${c.path}?${c.query}`)).toEqual(['POST /auth/logout?scope=all'])
      expect([...api.sessions.values()].every((s) => s.revoked)).toBe(true)
      expect(client.state).toBe('anonymous')
      expect(onLogout).toHaveBeenCalledWith({ reason: 'logout', remote: false })
      expect(await storage.get()).toBeNull()
    })

    it("logout({ scope: 'others' }) with an expired access token refreshes first", async () => {
      const { api, client } = await loggedIn(transport)
      api.expireAccess()
      await client.logout({ scope: 'others' })
      expect(api.calls.map((c) => c.path)).toEqual(['/auth/logout', '/auth/refresh', '/auth/logout'])
      expect(client.state).toBe('authenticated')
    })
  })

  describe(`${transport}: changePassword`, () => {
    it('changes the password; this session goes on with a new pair, the others end', async () => {
      const { api, client, storage, onLogout, events } = await loggedIn(transport)
      api.issue() // another device: s2
      const before = await storage.get()
      const jarBefore = { ...api.jar }
      await client.changePassword(PASSWORD, NEW_PASSWORD)
      expect(api.password).toBe(NEW_PASSWORD)
      expect(api.sessions.get('s2')!.revoked).toBe(true)
      const [call] = api.calls
      expect(`${call!.method} ${call!.path}`).toBe('POST /auth/password')
      if (transport === 'bearer') {
        // the stored pair went out (access as Bearer, refresh in the body) and was replaced
        expect(call!.headers.get('authorization')).toBe(`Bearer ${before!.accessToken}`)
        expect(call!.body).toEqual({ current_password: PASSWORD, new_password: NEW_PASSWORD, refresh_token: before!.refreshToken })
        const after = await storage.get()
        expect(after!.refreshToken).not.toBe(before!.refreshToken)
        expect(after!.accessToken).not.toBe(before!.accessToken)
      } else {
        // cookies both ways; no token in the body, nothing stored
        expect(call!.body).toEqual({ current_password: PASSWORD, new_password: NEW_PASSWORD })
        expect(call!.headers.get('x-auth-transport')).toBe('cookie')
        expect(call!.credentials).toBe('include')
        expect(api.jar.refresh).not.toBe(jarBefore.refresh)
        expect(await storage.get()).toBeNull()
      }
      // the new credentials work without a refresh
      expect((await client.me()).session_id).toBe('s1')
      expect(api.count('/auth/refresh')).toBe(0)
      expect(client.state).toBe('authenticated')
      expect(onLogout).not.toHaveBeenCalled()
      expect(events).toEqual([{ type: 'refresh', remote: false }])
    })

    it('a wrong current password is rejected (403) and changes nothing', async () => {
      const { api, client, storage, onLogout } = await loggedIn(transport)
      const before = await storage.get()
      const err = await client.changePassword('not my password', NEW_PASSWORD).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(AuthError)
      expect(err).toMatchObject({ kind: 'rejected', code: 'invalid_current_password', status: 403 })
      expect(api.count('/auth/password')).toBe(1)
      expect(api.password).toBe(PASSWORD)
      expect(await storage.get()).toEqual(before)
      expect(client.state).toBe('authenticated')
      expect(onLogout).not.toHaveBeenCalled()
    })

    it('an expired access token: refreshes once, then sends the change with the new tokens', async () => {
      const { api, client, storage } = await loggedIn(transport)
      api.expireAccess()
      await client.changePassword(PASSWORD, NEW_PASSWORD)
      expect(api.calls.map((c) => c.path)).toEqual(['/auth/password', '/auth/refresh', '/auth/password'])
      expect(api.password).toBe(NEW_PASSWORD)
      if (transport === 'bearer') {
        const [first, refresh, retried] = api.calls
        const refreshed = (refresh!.body as { refresh_token: string }).refresh_token
        expect((first!.body as { refresh_token: string }).refresh_token).toBe(refreshed)
        // the retry carries the refreshed pair, not the spent one
        expect((retried!.body as { refresh_token: string }).refresh_token).not.toBe(refreshed)
        expect(retried!.headers.get('authorization')).not.toBe(first!.headers.get('authorization'))
        expect((await storage.get())!.refreshToken).not.toBe((retried!.body as { refresh_token: string }).refresh_token)
      }
      expect(client.state).toBe('authenticated')
    })

    it('a 401 that a refresh does not cure is thrown as rejected: no logout', async () => {
      const { api, client, storage, onLogout } = await loggedIn(transport)
      api.plan('/auth/password', apiError(401, 'token_expired'), apiError(401, 'invalid_token'))
      const err = await client.changePassword(PASSWORD, NEW_PASSWORD).catch((e: unknown) => e)
      expect(err).toMatchObject({ kind: 'rejected', code: 'invalid_token', status: 401 })
      expect(api.calls.map((c) => c.path)).toEqual(['/auth/password', '/auth/refresh', '/auth/password'])
      expect(client.state).toBe('authenticated')
      expect(onLogout).not.toHaveBeenCalled()
      if (transport === 'bearer') expect(await storage.get()).not.toBeNull()
    })

    for (const code of ['session_revoked', 'session_expired', 'refresh_token_reused'] as const) {
      it(`a 401 ${code} is the end of the session: definitive, logged out, no refresh`, async () => {
        const { api, client, storage, onLogout } = await loggedIn(transport)
        api.plan('/auth/password', apiError(401, code))
        await expect(client.changePassword(PASSWORD, NEW_PASSWORD)).rejects.toMatchObject({ kind: 'definitive', code, status: 401 })
        expect(api.count('/auth/refresh')).toBe(0)
        expect(onLogout).toHaveBeenCalledWith({ reason: code, remote: false })
        expect(client.state).toBe('anonymous')
        expect(await storage.get()).toBeNull()
      })
    }

    it('a session revoked elsewhere: the refresh says so, and the client logs out', async () => {
      const { api, client, onLogout } = await loggedIn(transport)
      api.expireAccess()
      api.revoke('s1')
      await expect(client.changePassword(PASSWORD, NEW_PASSWORD)).rejects.toMatchObject({ kind: 'definitive', code: 'session_revoked' })
      expect(onLogout).toHaveBeenCalledWith({ reason: 'session_revoked', remote: false })
      expect(api.password).toBe(PASSWORD)
    })

    it('503 is retried (the server did nothing); the change then goes through', async () => {
      const { api, client } = await loggedIn(transport)
      api.plan('/auth/password', apiError(503, 'service_unavailable'))
      await client.changePassword(PASSWORD, NEW_PASSWORD)
      expect(api.count('/auth/password')).toBe(2)
      expect(api.password).toBe(NEW_PASSWORD)
    })

    it('an answer lost after the change was made: not sent again; a refresh picks up the new pair', async () => {
      const { api, client, storage, onLogout } = await loggedIn(transport)
      api.plan('/auth/password', (call) => {
        const jar = { ...api.jar }
        const res = api.route(call)
        api.jar = jar // the Set-Cookie was in the answer that never arrived
        if (res.status !== 200) throw new Error(`unexpected ${res.status}`)
        throw new TypeError('connection reset')
      })
      await expect(client.changePassword(PASSWORD, NEW_PASSWORD)).rejects.toMatchObject({ kind: 'transient', code: 'network_error' })
      expect(api.count('/auth/password')).toBe(1)
      // the old refresh token, presented again, is answered with the child the change made
      expect(api.count('/auth/refresh')).toBe(1)
      expect(api.password).toBe(NEW_PASSWORD)
      expect((await client.me()).session_id).toBe('s1')
      expect(api.count('/auth/refresh')).toBe(1)
      expect(client.state).toBe('authenticated')
      expect(onLogout).not.toHaveBeenCalled()
      if (transport === 'bearer') expect(await storage.get()).not.toBeNull()
    })

    it('no answer at all (network down): transient, session and tokens kept', async () => {
      const { api, client, storage, onLogout } = await loggedIn(transport, { retry: { attempts: 2 } })
      const before = await storage.get()
      api.plan('/auth/password', new TypeError('offline'))
      api.plan('/auth/refresh', new TypeError('offline'), new TypeError('offline'))
      await expect(client.changePassword(PASSWORD, NEW_PASSWORD)).rejects.toMatchObject({ kind: 'transient', code: 'network_error' })
      expect(api.count('/auth/password')).toBe(1)
      expect(client.state).toBe('authenticated')
      expect(await storage.get()).toEqual(before)
      expect(onLogout).not.toHaveBeenCalled()
    })

    it('a refresh asked for during the change waits for it and uses its tokens', async () => {
      const { api, client } = await loggedIn(transport)
      api.latencyMs = 3
      await Promise.all([client.changePassword(PASSWORD, NEW_PASSWORD), client.refresh()])
      expect(api.count('/auth/refresh')).toBe(0)
      expect(api.count('/auth/password')).toBe(1)
      expect((await client.me()).email).toBe('ada@example.com')
    })
  })
}

describe('bearer: changePassword without tokens', () => {
  it('is definitive (not logged in) and sends nothing', async () => {
    const api = new FakeApi()
    const client = createAuthClient({ transport: 'bearer', fetch: api.fetch, crossTab: false })
    await expect(client.changePassword(PASSWORD, NEW_PASSWORD)).rejects.toMatchObject({ kind: 'definitive', code: 'unauthorized' })
    expect(api.calls).toEqual([])
  })
})

describe('cookie tabs: changePassword', () => {
  it('the other tabs hear of the new cookies and keep working without a refresh', async () => {
    const api = new FakeApi()
    const hub = new FakeHub()
    const locks = new FakeLocks()
    const tab = () => {
      const onLogout = vi.fn()
      const events: string[] = []
      const client = createAuthClient({ transport: 'cookie', fetch: api.fetch, onLogout, crossTab: { locks, channel: hub.channel() } })
      client.subscribe((e) => events.push(`${e.type}${e.remote ? ':remote' : ''}`))
      return { client, onLogout, events }
    }
    const [t1, t2] = [tab(), tab()]
    await t1.client.login('ada@example.com', PASSWORD)
    await tick()
    await t1.client.changePassword(PASSWORD, NEW_PASSWORD)
    await tick()
    expect(t2.events).toEqual(['login:remote', 'refresh:remote'])
    expect((await t2.client.me()).session_id).toBe('s1')
    expect(api.count('/auth/refresh')).toBe(0)
    expect(t2.onLogout).not.toHaveBeenCalled()
  })
})
