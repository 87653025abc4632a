// The SDK in one page: both transports, refresh once on a 401, single-flight, and what
// logs out (a definitive refresh answer) versus what does not.
import { describe, expect, it, vi } from 'vitest'
import { AuthError, createAuthClient, memoryStorage, type AuthClientOptions, type TokenStorage } from '../../client/src/index.js'
import { FakeApi, FakeHub, FakeLocks, apiError, recordingSleep, tick } from './fakes.js'

const PASSWORD = 'correct horse battery'

function setup(transport: 'cookie' | 'bearer', extra: Partial<AuthClientOptions> = {}) {
  const api = new FakeApi()
  const storage = memoryStorage()
  const onLogout = vi.fn()
  const { waits, sleep } = recordingSleep()
  const client = createAuthClient({
    baseUrl: 'http://api.test',
    transport,
    fetch: api.fetch,
    storage,
    onLogout,
    sleep,
    crossTab: false,
    ...extra,
  })
  return { api, storage, onLogout, waits, client }
}

for (const transport of ['cookie', 'bearer'] as const) {
  describe(`${transport} transport`, () => {
    it('logs in, calls /auth/me and logs out', async () => {
      const { api, client, storage, onLogout } = setup(transport)
      await client.login('ada@example.com', PASSWORD)
      expect(client.state).toBe('authenticated')
      expect(await client.me()).toEqual({ id: 'u1', email: 'ada@example.com', email_verified: false, session_id: 's1' })
      await client.logout()
      expect(client.state).toBe('anonymous')
      expect(onLogout).toHaveBeenCalledWith({ reason: 'logout', remote: false })
      expect(await storage.get()).toBeNull()
      expect(api.count('/auth/logout')).toBe(1)
    })

    it('a wrong password is a rejected AuthError and changes nothing', async () => {
      const { client, onLogout } = setup(transport)
      const err = await client.login('ada@example.com', 'wrong password').catch((e: unknown) => e)
      expect(err).toBeInstanceOf(AuthError)
      expect(err).toMatchObject({ kind: 'rejected', code: 'invalid_credentials', status: 401 })
      expect(onLogout).not.toHaveBeenCalled()
    })

    it('on a 401 refreshes once and retries the request once', async () => {
      const { api, client } = setup(transport)
      await client.login('ada@example.com', PASSWORD)
      api.expireAccess()
      const res = await client.fetch('/data', { method: 'POST', body: JSON.stringify({ n: 1 }), headers: { 'content-type': 'application/json' } })
      expect(res.status).toBe(200)
      expect(await res.json()).toMatchObject({ method: 'POST', body: { n: 1 } })
      expect(api.count('/auth/refresh')).toBe(1)
      expect(api.count('/data')).toBe(2)
    })

    it('does not loop when the retried request is refused again', async () => {
      const { api, client, onLogout } = setup(transport)
      await client.login('ada@example.com', PASSWORD)
      api.expireAccess()
      api.plan('/data', apiError(401, 'token_expired'), apiError(401, 'token_expired'))
      const res = await client.fetch('/data')
      expect(res.status).toBe(401)
      expect(api.count('/auth/refresh')).toBe(1)
      expect(api.count('/data')).toBe(2)
      expect(onLogout).not.toHaveBeenCalled()
    })

    it('single-flight: 20 concurrent 401s share one refresh', async () => {
      const { api, client } = setup(transport)
      await client.login('ada@example.com', PASSWORD)
      api.expireAccess()
      api.latencyMs = 5
      const results = await Promise.all(Array.from({ length: 20 }, () => client.fetch('/data')))
      expect(results.map((r) => r.status)).toEqual(Array(20).fill(200))
      expect(api.count('/auth/refresh')).toBe(1)
    })

    it('a request whose 401 arrives after a refresh finished retries without refreshing again', async () => {
      const { api, client } = setup(transport)
      await client.login('ada@example.com', PASSWORD)
      api.expireAccess()
      // /slow is sent with the old credentials, answered only after the refresh completed
      let releaseSlow!: () => void
      const gate = new Promise<void>((r) => (releaseSlow = r))
      api.plan('/slow', async (call) => {
        await gate
        return api.route(call)
      })
      const slow = client.fetch('/slow')
      await client.refresh()
      releaseSlow()
      expect((await slow).status).toBe(200)
      expect(api.count('/auth/refresh')).toBe(1)
    })

    for (const code of ['refresh_token_reused', 'session_revoked', 'session_expired', 'invalid_refresh_token']) {
      it(`a definitive refresh answer (${code}) logs out once and clears the credentials`, async () => {
        const { api, client, storage, onLogout } = setup(transport)
        await client.login('ada@example.com', PASSWORD)
        api.expireAccess()
        api.plan('/auth/refresh', apiError(401, code))
        const results = await Promise.all([client.fetch('/data'), client.fetch('/data'), client.fetch('/auth/me')])
        expect(results.map((r) => r.status)).toEqual([401, 401, 401])
        expect(api.count('/auth/refresh')).toBe(1)
        expect(onLogout).toHaveBeenCalledTimes(1)
        expect(onLogout).toHaveBeenCalledWith({ reason: code, remote: false })
        expect(client.state).toBe('anonymous')
        expect(await storage.get()).toBeNull()
        await expect(client.me()).rejects.toMatchObject({ kind: 'definitive', status: 401 })
        // Known to be logged out: a 401 no longer sends the page to /auth/refresh.
        expect(api.count('/auth/refresh')).toBe(1)
      })
    }

    it('refresh() throws a definitive AuthError when the session is over', async () => {
      const { api, client } = setup(transport)
      await client.login('ada@example.com', PASSWORD)
      api.plan('/auth/refresh', apiError(401, 'session_expired'))
      await expect(client.refresh()).rejects.toMatchObject({ kind: 'definitive', code: 'session_expired' })
    })

    it('a refused refresh that is not definitive (403, 400, 500) throws and keeps the session', async () => {
      const { api, client, onLogout, storage } = setup(transport)
      await client.login('ada@example.com', PASSWORD)
      const before = await storage.get()
      api.expireAccess()
      api.plan('/auth/refresh', apiError(403, 'csrf_rejected'), apiError(500, 'server_error'))
      await expect(client.fetch('/data')).rejects.toMatchObject({ kind: 'rejected', code: 'csrf_rejected' })
      await expect(client.refresh()).rejects.toMatchObject({ kind: 'rejected', code: 'server_error' })
      expect(onLogout).not.toHaveBeenCalled()
      expect(client.state).toBe('authenticated')
      expect(await storage.get()).toEqual(before)
    })

    it('a logout the server answers with 401 (nothing to end) still logs out locally', async () => {
      const { api, client, onLogout } = setup(transport)
      await client.login('ada@example.com', PASSWORD)
      api.plan('/auth/logout', apiError(401, 'session_revoked'))
      await client.logout()
      expect(client.state).toBe('anonymous')
      expect(onLogout).toHaveBeenCalledTimes(1)
    })

    it('register returns the new account', async () => {
      const { client, api } = setup(transport)
      expect(await client.register('ada@example.com', PASSWORD)).toEqual({ id: 'u1', email: 'ada@example.com' })
      expect(api.calls[0]!.body).toEqual({ email: 'ada@example.com', password: PASSWORD })
    })
  })
}

describe('cookie transport specifics', () => {
  it('sends X-Auth-Transport: cookie and credentials on every request, and never a token', async () => {
    const { api, client, storage } = setup('cookie')
    const set = vi.spyOn(storage, 'set')
    await client.register('ada@example.com', PASSWORD)
    await client.login('ada@example.com', PASSWORD)
    await client.me()
    api.expireAccess()
    await client.fetch('/data', { method: 'DELETE' })
    await client.refresh()
    await client.logout()
    expect(api.calls.map((c) => `${c.method} ${c.path}`)).toEqual([
      'POST /auth/register',
      'POST /auth/login',
      'GET /auth/me',
      'DELETE /data',
      'POST /auth/refresh',
      'DELETE /data',
      'POST /auth/refresh',
      'POST /auth/logout',
    ])
    for (const c of api.calls) {
      expect(c.headers.get('x-auth-transport')).toBe('cookie')
      expect(c.credentials).toBe('include')
      expect(c.headers.has('authorization')).toBe(false)
      expect(JSON.stringify(c.body ?? {})).not.toMatch(/refresh_token|access_token/)
    }
    expect(set).not.toHaveBeenCalled()
  })

  it('a page that just loaded with an expired access cookie refreshes silently', async () => {
    const api = new FakeApi()
    await createAuthClient({ baseUrl: 'http://api.test', transport: 'cookie', fetch: api.fetch, crossTab: false }).login('a@b.c', PASSWORD)
    api.expireAccess()
    const reloaded = createAuthClient({ baseUrl: 'http://api.test', transport: 'cookie', fetch: api.fetch, crossTab: false })
    expect(reloaded.state).toBe('unknown')
    expect((await reloaded.me()).email).toBe('ada@example.com')
    expect(reloaded.state).toBe('authenticated')
  })

  it('a page that was never logged in asks /auth/refresh once, then stays quiet', async () => {
    const { api, client, onLogout } = setup('cookie')
    await expect(client.me()).rejects.toMatchObject({ kind: 'definitive', status: 401 })
    await expect(client.me()).rejects.toMatchObject({ kind: 'definitive', status: 401 })
    expect(api.count('/auth/refresh')).toBe(1)
    expect(client.state).toBe('anonymous')
    expect(onLogout).not.toHaveBeenCalled() // it was never logged in
  })
})

describe('bearer transport specifics', () => {
  it('sends the access token as Bearer and the refresh token in the JSON body', async () => {
    const { api, client, storage } = setup('bearer')
    await client.login('ada@example.com', PASSWORD)
    const first = (await storage.get())!
    api.expireAccess()
    await client.fetch('/data')
    const [, denied, refresh, retried] = api.calls
    expect(denied!.headers.get('authorization')).toBe(`Bearer ${first.accessToken}`)
    expect(refresh!.body).toEqual({ refresh_token: first.refreshToken })
    expect(refresh!.headers.has('x-auth-transport')).toBe(false)
    const second = (await storage.get())!
    expect(second.refreshToken).not.toBe(first.refreshToken)
    expect(retried!.headers.get('authorization')).toBe(`Bearer ${second.accessToken}`)
    for (const c of api.calls) expect(c.credentials).toBe('omit')
  })

  it('works with an asynchronous secure-storage callback', async () => {
    const api = new FakeApi()
    let saved: string | null = null
    const secure: TokenStorage = {
      get: async () => (saved ? JSON.parse(saved) : null),
      set: async (t) => void (saved = JSON.stringify(t)),
      clear: async () => void (saved = null),
    }
    const client = createAuthClient({ baseUrl: 'http://api.test', transport: 'bearer', fetch: api.fetch, storage: secure })
    await client.login('ada@example.com', PASSWORD)
    expect(JSON.parse(saved!)).toMatchObject({ accessToken: expect.any(String), refreshToken: expect.any(String) })
    api.expireAccess()
    expect((await client.me()).email).toBe('ada@example.com')
    await client.logout()
    expect(saved).toBeNull()
  })

  it('without stored tokens a 401 is returned as is: nothing to refresh', async () => {
    const { api, client } = setup('bearer')
    const res = await client.fetch('/data')
    expect(res.status).toBe(401)
    expect(api.count('/auth/refresh')).toBe(0)
    await expect(client.refresh()).rejects.toMatchObject({ kind: 'definitive', code: 'unauthorized' })
  })

  it('a stale failure never clears newer credentials', async () => {
    const { api, client, storage, onLogout } = setup('bearer')
    await client.login('ada@example.com', PASSWORD)
    api.expireAccess()
    // While the refresh is on its way, a login elsewhere in the app stores a new session;
    // then the old refresh token is refused as reused.
    let newer!: { accessToken: string; refreshToken: string }
    api.plan('/auth/refresh', async () => {
      newer = api.issue()
      await storage.set(newer)
      return apiError(401, 'refresh_token_reused')
    })
    const res = await client.fetch('/data')
    expect(res.status).toBe(200)
    expect(await storage.get()).toEqual(newer)
    expect(onLogout).not.toHaveBeenCalled()
    expect(client.state).toBe('authenticated')
    expect(api.calls.at(-1)!.headers.get('authorization')).toBe(`Bearer ${newer.accessToken}`)
  })

  it('a request that used old tokens retries with the stored ones instead of refreshing', async () => {
    const { api, client, storage } = setup('bearer')
    await client.login('ada@example.com', PASSWORD)
    api.expireAccess()
    let newer!: { accessToken: string; refreshToken: string }
    api.plan('/data', async (call) => {
      newer = api.issue()
      await storage.set(newer) // replaced while this request was out
      return api.route(call)
    })
    expect((await client.fetch('/data')).status).toBe(200)
    expect(api.count('/auth/refresh')).toBe(0)
    expect(api.calls.at(-1)!.headers.get('authorization')).toBe(`Bearer ${newer.accessToken}`)
  })

  it('tokens cleared from storage by another part of the app end the session without a refresh', async () => {
    const { api, client, storage, onLogout } = setup('bearer')
    await client.login('ada@example.com', PASSWORD)
    api.expireAccess()
    api.plan('/data', async (call) => {
      await storage.clear()
      return api.route(call)
    })
    expect((await client.fetch('/data')).status).toBe(401)
    expect(api.count('/auth/refresh')).toBe(0)
    expect(onLogout).toHaveBeenCalledWith({ reason: 'logged_out_elsewhere', remote: true })
  })
})

describe('paths', () => {
  it('refuses absolute and protocol-relative URLs: credentials go to baseUrl only', async () => {
    const { client } = setup('bearer')
    await expect(client.fetch('https://evil.example/x')).rejects.toThrow(TypeError)
    await expect(client.fetch('//evil.example/x')).rejects.toThrow(TypeError)
  })
})

describe('basePath', () => {
  for (const transport of ['cookie', 'bearer'] as const) {
    it(`${transport}: every auth route goes under basePath (trailing slash ignored); fetch() paths do not`, async () => {
      const api = new FakeApi('/api/v2/auth')
      const client = createAuthClient({ baseUrl: 'http://api.test', basePath: '/api/v2/auth/', transport, fetch: api.fetch, crossTab: false })
      await client.register('ada@example.com', PASSWORD)
      await client.login('ada@example.com', PASSWORD)
      const me = await client.me()
      await client.sessions()
      await client.events({ limit: 5 })
      api.expireAccess()
      await client.fetch('/data')
      await client.changePassword(PASSWORD, 'a new long password')
      await client.logout({ scope: 'others' })
      await client.revokeSession(me.session_id)
      expect(api.calls.map((c) => `${c.method} ${c.path}`)).toEqual([
        'POST /api/v2/auth/register',
        'POST /api/v2/auth/login',
        'GET /api/v2/auth/me',
        'GET /api/v2/auth/sessions',
        'GET /api/v2/auth/sessions/events',
        'GET /data',
        'POST /api/v2/auth/refresh',
        'GET /data',
        'POST /api/v2/auth/password',
        'POST /api/v2/auth/logout',
        'DELETE /api/v2/auth/sessions/s1',
      ])
      expect(client.state).toBe('anonymous')
    })
  }

  it("'' mounts the routes at the root, and '/' means the same", async () => {
    for (const basePath of ['', '/']) {
      const api = new FakeApi('')
      const client = createAuthClient({ basePath, transport: 'bearer', fetch: api.fetch, crossTab: false })
      await client.login('ada@example.com', PASSWORD)
      expect((await client.me()).session_id).toBe('s1')
      expect(api.calls.map((c) => c.path)).toEqual(['/login', '/me'])
    }
  })

  it('defaults to /auth', async () => {
    const api = new FakeApi()
    const client = createAuthClient({ transport: 'cookie', fetch: api.fetch, crossTab: false })
    await client.login('ada@example.com', PASSWORD)
    await client.me()
    expect(api.calls.map((c) => c.path)).toEqual(['/auth/login', '/auth/me'])
  })

  it('the cross-tab probe (probePath) defaults to {basePath}/me', async () => {
    const api = new FakeApi('/id')
    const locks = new FakeLocks()
    const hub = new FakeHub()
    const tab = () => createAuthClient({ basePath: '/id', transport: 'cookie', fetch: api.fetch, crossTab: { locks, channel: hub.channel() } })
    const [t1, t2] = [tab(), tab()]
    await t1.login('ada@example.com', PASSWORD)
    await tick()
    api.expireAccess()
    api.latencyMs = 3
    // t2 waits for t1's refresh and, before t1's announcement lands, asks the probe path.
    await Promise.all([t1.fetch('/data'), t2.fetch('/data')])
    expect(api.count('/id/refresh')).toBe(1)
    expect(api.count('/id/me')).toBeGreaterThan(0)
    expect(api.calls.filter((c) => c.path === '/me' || c.path === '/auth/me')).toEqual([])
  })

  it('refuses a basePath that could send credentials elsewhere', () => {
    for (const basePath of ['auth', '//evil.example/auth', 'https://evil.example/auth', '/auth?x=1', '/auth#x', '/\\evil.example']) {
      expect(() => createAuthClient({ basePath, transport: 'bearer', fetch: new FakeApi().fetch }), basePath).toThrow(TypeError)
    }
  })
})
