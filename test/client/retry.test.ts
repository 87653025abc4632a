// Transient failures (503, 429, network errors, timeouts) are retried with backoff and
// never log out; Retry-After is honoured; a caller's abort is not retried.
import { describe, expect, it, vi } from 'vitest'
import { AuthError, DEFAULT_RETRY, backoffDelay, createAuthClient, memoryStorage, parseRetryAfter, type AuthClientOptions } from '../../client/src/index.js'
import { FakeApi, apiError, recordingSleep } from './fakes.js'

const PASSWORD = 'correct horse battery'

async function loggedIn(transport: 'cookie' | 'bearer', extra: Partial<AuthClientOptions> = {}) {
  const api = new FakeApi()
  const storage = memoryStorage()
  const onLogout = vi.fn()
  const { waits, sleep } = recordingSleep()
  const client = createAuthClient({ baseUrl: 'http://api.test', transport, fetch: api.fetch, storage, onLogout, sleep, crossTab: false, ...extra })
  await client.login('ada@example.com', PASSWORD)
  api.expireAccess()
  return { api, storage, onLogout, waits, client }
}

describe('backoff', () => {
  it('doubles up to the ceiling, with jitter in the upper half of each step', () => {
    const r = { ...DEFAULT_RETRY, baseDelayMs: 100, maxDelayMs: 1000 }
    expect([1, 2, 3, 4, 5].map((a) => backoffDelay(r, a, () => 0))).toEqual([50, 100, 200, 400, 500])
    expect([1, 2, 3, 4, 5].map((a) => backoffDelay(r, a, () => 1))).toEqual([100, 200, 400, 800, 1000])
  })

  it('reads Retry-After as seconds or as an HTTP date', () => {
    expect(parseRetryAfter('3')).toBe(3000)
    expect(parseRetryAfter(new Date(Date.UTC(2030, 0, 1, 0, 0, 10)).toUTCString(), Date.UTC(2030, 0, 1))).toBe(10_000)
    expect(parseRetryAfter('soon')).toBeUndefined()
    expect(parseRetryAfter(null)).toBeUndefined()
  })
})

for (const transport of ['cookie', 'bearer'] as const) {
  describe(`${transport}: a refresh that meets trouble`, () => {
    it('503 then success: retried with backoff, not logged out', async () => {
      const { api, client, onLogout, waits, storage } = await loggedIn(transport, { random: () => 0.5 })
      api.plan('/auth/refresh', apiError(503, 'service_unavailable'), apiError(503, 'service_unavailable'))
      const res = await client.fetch('/data')
      expect(res.status).toBe(200)
      expect(api.count('/auth/refresh')).toBe(3)
      expect(waits).toEqual([187.5, 375]) // 250 ms then 500 ms steps, jitter at 0.5
      expect(onLogout).not.toHaveBeenCalled()
      expect(client.state).toBe('authenticated')
      if (transport === 'bearer') expect(await storage.get()).not.toBeNull()
    })

    it('honours Retry-After (429 and 503) when longer than the backoff', async () => {
      const { api, client, waits } = await loggedIn(transport, { random: () => 0 })
      api.plan(
        '/auth/refresh',
        apiError(429, 'too_many_requests', { 'retry-after': '3' }),
        apiError(503, 'service_unavailable', { 'retry-after': '1' }),
      )
      expect((await client.fetch('/data')).status).toBe(200)
      expect(waits).toEqual([3000, 1000])
    })

    it('a Retry-After beyond maxRetryAfterMs is not waited for: transient error, session kept', async () => {
      const { api, client, waits, onLogout } = await loggedIn(transport, { retry: { maxRetryAfterMs: 10_000 } })
      api.plan('/auth/refresh', apiError(429, 'too_many_requests', { 'retry-after': '60' }))
      const err = (await client.fetch('/data').catch((e: unknown) => e)) as AuthError
      expect(err).toBeInstanceOf(AuthError)
      expect(err).toMatchObject({ kind: 'transient', code: 'too_many_requests', status: 429, retryAfterMs: 60_000 })
      expect(waits).toEqual([])
      expect(onLogout).not.toHaveBeenCalled()
      expect(client.state).toBe('authenticated')
    })

    it('network errors are retried', async () => {
      const { api, client, onLogout } = await loggedIn(transport)
      api.plan('/auth/refresh', new TypeError('Failed to fetch'), new TypeError('Failed to fetch'))
      expect((await client.fetch('/data')).status).toBe(200)
      expect(api.count('/auth/refresh')).toBe(3)
      expect(onLogout).not.toHaveBeenCalled()
    })

    it('a refresh that hangs is aborted at timeoutMs and retried', async () => {
      const { api, client, onLogout } = await loggedIn(transport, { timeoutMs: 30 })
      api.plan('/auth/refresh', 'hang')
      const started = Date.now()
      expect((await client.fetch('/data')).status).toBe(200)
      expect(Date.now() - started).toBeGreaterThanOrEqual(25)
      expect(api.count('/auth/refresh')).toBe(2)
      expect(onLogout).not.toHaveBeenCalled()
    })

    it('when every attempt fails: AuthError(transient), credentials and state untouched', async () => {
      const { api, client, onLogout, storage, waits } = await loggedIn(transport, { retry: { attempts: 3 }, timeoutMs: 20 })
      const before = await storage.get()
      api.plan('/auth/refresh', apiError(503, 'service_unavailable'), new TypeError('offline'), 'hang')
      const err = await client.fetch('/data').catch((e: unknown) => e)
      expect(err).toMatchObject({ kind: 'transient', code: 'timeout' })
      expect(api.count('/auth/refresh')).toBe(3)
      expect(waits).toHaveLength(2)
      expect(onLogout).not.toHaveBeenCalled()
      expect(client.state).toBe('authenticated')
      expect(await storage.get()).toEqual(before)
      // and the next call, with the server back, just works
      expect((await client.fetch('/data')).status).toBe(200)
    })
  })
}

describe('ordinary requests', () => {
  it('GET is retried after a network error; POST is not (its outcome is unknown)', async () => {
    const { api, client } = await loggedIn('cookie')
    await client.refresh()
    api.plan('/data', new TypeError('reset'), new TypeError('reset'))
    expect((await client.fetch('/data')).status).toBe(200)
    api.plan('/data', new TypeError('reset'))
    await expect(client.fetch('/data', { method: 'POST', body: '{}' })).rejects.toMatchObject({ kind: 'transient', code: 'network_error' })
  })

  it('503 is retried for any method (the server did nothing); the last 503 is returned when retries run out', async () => {
    const { api, client } = await loggedIn('bearer', { retry: { attempts: 2 } })
    await client.refresh()
    api.plan('/data', apiError(503, 'service_unavailable'))
    expect((await client.fetch('/data', { method: 'POST', body: '{}' })).status).toBe(200)
    api.plan('/data', apiError(503, 'service_unavailable'), apiError(503, 'service_unavailable'))
    expect((await client.fetch('/data')).status).toBe(503)
  })

  it("a caller's abort is thrown as is and not retried", async () => {
    const { api, client } = await loggedIn('cookie')
    await client.refresh()
    api.plan('/data', 'hang')
    const ctrl = new AbortController()
    const p = client.fetch('/data', { signal: ctrl.signal })
    setTimeout(() => ctrl.abort(new Error('user left')), 5)
    await expect(p).rejects.toThrow('user left')
    expect(api.count('/data')).toBe(1)
  })

  it('logout: cookie mode keeps the session when the server cannot be told; bearer forgets the tokens anyway', async () => {
    const cookie = await loggedIn('cookie', { retry: { attempts: 2 } })
    cookie.api.plan('/auth/logout', apiError(503, 'service_unavailable'), apiError(503, 'service_unavailable'))
    await expect(cookie.client.logout()).rejects.toMatchObject({ kind: 'transient' })
    expect(cookie.client.state).toBe('authenticated')
    expect(cookie.onLogout).not.toHaveBeenCalled()

    const bearer = await loggedIn('bearer', { retry: { attempts: 2 } })
    bearer.api.plan('/auth/logout', new TypeError('offline'), new TypeError('offline'))
    await expect(bearer.client.logout()).rejects.toMatchObject({ kind: 'transient' })
    expect(bearer.client.state).toBe('anonymous')
    expect(await bearer.storage.get()).toBeNull()
  })
})
