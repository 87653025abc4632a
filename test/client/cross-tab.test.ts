// Several tabs of one origin: one shared cookie jar (the FakeApi), Web Locks and a
// BroadcastChannel. Only one tab refreshes, the others adopt its result; a logout reaches
// every tab; a stale "logged out" never undoes a newer login.
import { describe, expect, it, vi } from 'vitest'
import { createAuthClient, memoryStorage, type AuthClient, type TokenStorage } from '../../client/src/index.js'
import { FakeApi, FakeHub, FakeLocks, apiError, tick } from './fakes.js'

const PASSWORD = 'correct horse battery'

function browser(opts: { locks?: boolean; transport?: 'cookie' | 'bearer' } = {}) {
  const api = new FakeApi()
  const hub = new FakeHub()
  const locks = opts.locks === false ? null : new FakeLocks()
  const shared: TokenStorage = memoryStorage() // bearer tabs sharing one store
  const tabs: Array<{ client: AuthClient; onLogout: ReturnType<typeof vi.fn>; events: string[] }> = []
  function openTab() {
    const onLogout = vi.fn()
    const events: string[] = []
    const client = createAuthClient({
      baseUrl: 'http://api.test',
      transport: opts.transport ?? 'cookie',
      fetch: api.fetch,
      storage: shared,
      onLogout,
      crossTab: { locks, channel: hub.channel() },
    })
    client.subscribe((e) => events.push(`${e.type}${e.remote ? ':remote' : ''}`))
    const tab = { client, onLogout, events }
    tabs.push(tab)
    return tab
  }
  return { api, hub, locks, openTab, tabs, shared }
}

describe('cookie tabs with Web Locks', () => {
  it('three tabs hitting an expired access token at once: one refresh, all stay logged in', async () => {
    const b = browser()
    const [t1, t2, t3] = [b.openTab(), b.openTab(), b.openTab()]
    await t1!.client.login('ada@example.com', PASSWORD)
    await tick()
    b.api.expireAccess()
    b.api.latencyMs = 3
    const results = await Promise.all([t1!, t2!, t3!].map((t) => t.client.me()))
    expect(results.map((r) => r.email)).toEqual(Array(3).fill('ada@example.com'))
    expect(b.api.count('/auth/refresh')).toBe(1)
    for (const t of [t1!, t2!, t3!]) {
      expect(t.client.state).toBe('authenticated')
      expect(t.onLogout).not.toHaveBeenCalled()
    }
  })

  it('many requests in many tabs: still one refresh', async () => {
    const b = browser()
    const tabs = Array.from({ length: 5 }, () => b.openTab())
    await tabs[0]!.client.login('ada@example.com', PASSWORD)
    await tick()
    b.api.expireAccess()
    b.api.latencyMs = 2
    const all = await Promise.all(tabs.flatMap((t) => Array.from({ length: 4 }, () => t.client.fetch('/data'))))
    expect(all.every((r) => r.status === 200)).toBe(true)
    expect(b.api.count('/auth/refresh')).toBe(1)
  })

  it('a refresh in one tab is announced to the others', async () => {
    const b = browser()
    const [t1, t2] = [b.openTab(), b.openTab()]
    await t1!.client.login('ada@example.com', PASSWORD)
    await t1!.client.refresh()
    await tick()
    expect(t2!.events).toEqual(['login:remote', 'refresh:remote'])
    expect(t2!.client.state).toBe('authenticated')
  })

  it('logout in one tab logs out the others, whose next call gets a 401 without a refresh', async () => {
    const b = browser()
    const [t1, t2, t3] = [b.openTab(), b.openTab(), b.openTab()]
    await t1!.client.login('ada@example.com', PASSWORD)
    await Promise.all([t2!.client.me(), t3!.client.me()])
    await t2!.client.logout()
    await tick()
    expect(t2!.onLogout).toHaveBeenCalledWith({ reason: 'logout', remote: false })
    for (const t of [t1!, t3!]) {
      expect(t.onLogout).toHaveBeenCalledWith({ reason: 'logout', remote: true })
      expect(t.client.state).toBe('anonymous')
      await expect(t.client.me()).rejects.toMatchObject({ kind: 'definitive', status: 401 })
    }
    expect(b.api.count('/auth/refresh')).toBe(0)
  })

  it('a definitive refresh failure in one tab logs out all of them', async () => {
    const b = browser()
    const [t1, t2] = [b.openTab(), b.openTab()]
    await t1!.client.login('ada@example.com', PASSWORD)
    await tick()
    b.api.expireAccess()
    b.api.plan('/auth/refresh', apiError(401, 'refresh_token_reused'))
    await expect(t1!.client.me()).rejects.toMatchObject({ status: 401 })
    await tick()
    expect(t2!.onLogout).toHaveBeenCalledWith({ reason: 'refresh_token_reused', remote: true })
  })

  it('a stale "logged out" from a tab whose request began before a newer login is ignored', async () => {
    const b = browser()
    const [t1, t2] = [b.openTab(), b.openTab()]
    await t1!.client.login('ada@example.com', PASSWORD)
    await tick()
    b.api.expireAccess()
    // t2's refresh is refused (old session ended) but, before its answer, t1 logs in again.
    let release!: () => void
    const gate = new Promise<void>((r) => (release = r))
    b.api.plan('/auth/refresh', async () => {
      await gate
      return apiError(401, 'session_revoked')
    })
    const stale = t2!.client.me().catch((e: unknown) => e)
    await tick(15)
    await tick()
    await t1!.client.login('ada@example.com', PASSWORD)
    await tick()
    release()
    const res = await stale
    await tick()
    // t2 had already heard of the new login: it retries with the new cookies instead of logging out
    expect(res).toMatchObject({ email: 'ada@example.com' })
    expect(t2!.onLogout).not.toHaveBeenCalled()
    expect(t1!.onLogout).not.toHaveBeenCalled()
    expect(t1!.client.state).toBe('authenticated')
  })

  it('a "logged out" whose failing request began before this tab\'s login does not log it out', async () => {
    const b = browser()
    const [t1] = [b.openTab()]
    await t1!.client.login('ada@example.com', PASSWORD)
    // a message from a tab whose failing request started a second before t1's login
    const other = b.hub.channel()
    other.postMessage({ v: 1, tab: 'x', at: Date.now(), type: 'logged-out', since: Date.now() - 1000, reason: 'session_revoked' })
    await tick()
    expect(t1!.client.state).toBe('authenticated')
    expect(t1!.onLogout).not.toHaveBeenCalled()
    // but a current one does
    other.postMessage({ v: 1, tab: 'x', at: Date.now() + 1, type: 'logged-out', since: Date.now() + 1, reason: 'logout' })
    await tick()
    expect(t1!.client.state).toBe('anonymous')
  })

  it('an announcement that arrives late (about a change older than the request) does not skip the refresh', async () => {
    const b = browser()
    const t1 = b.openTab()
    await t1.client.login('ada@example.com', PASSWORD)
    b.api.expireAccess()
    const other = b.hub.channel()
    // While the request is out, an old "refreshed" is heard: the retry with the same expired
    // cookie fails, and then the tab refreshes for real.
    b.api.plan('/data', async (call) => {
      other.postMessage({ v: 1, tab: 'x', at: Date.now() - 5000, type: 'refreshed' })
      await tick()
      return b.api.route(call)
    })
    const res = await t1.client.fetch('/data')
    expect(res.status).toBe(200)
    expect(b.api.count('/data')).toBe(3)
    expect(b.api.count('/auth/refresh')).toBe(1)
  })

  it('ignores malformed channel messages', async () => {
    const b = browser()
    const t1 = b.openTab()
    await t1.client.login('ada@example.com', PASSWORD)
    const other = b.hub.channel()
    for (const m of [null, 'logged-out', { type: 'logged-out' }, { v: 1, tab: 'x', at: 'now', type: 'logged-out', since: 0, reason: 'x' }]) {
      other.postMessage(m)
    }
    await tick()
    expect(t1.client.state).toBe('authenticated')
  })
})

describe('cookie tabs without Web Locks (BroadcastChannel only)', () => {
  it('a tab that hears "refreshing" waits for the result and adopts it', async () => {
    const b = browser({ locks: false })
    const [t1, t2] = [b.openTab(), b.openTab()]
    await t1!.client.login('ada@example.com', PASSWORD)
    await tick()
    b.api.expireAccess()
    let release!: () => void
    const gate = new Promise<void>((r) => (release = r))
    b.api.plan('/auth/refresh', async (call) => {
      await gate
      return b.api.route(call)
    })
    const first = t1!.client.me()
    // t1 has begun its refresh (so it has announced it), and the announcement has reached t2;
    // waited for, not timed, so a busy machine cannot reorder them
    while (b.api.count('/auth/refresh') === 0) await tick(1)
    await tick()
    const second = t2!.client.me()
    await tick()
    release()
    expect((await Promise.all([first, second])).map((m) => m.email)).toEqual(['ada@example.com', 'ada@example.com'])
    expect(b.api.count('/auth/refresh')).toBe(1)
  })
})

describe('bearer tabs sharing one token store', () => {
  it('only one tab refreshes; the other sees the stored tokens changed and uses them', async () => {
    const b = browser({ transport: 'bearer' })
    const [t1, t2] = [b.openTab(), b.openTab()]
    await t1!.client.login('ada@example.com', PASSWORD)
    b.api.expireAccess()
    b.api.latencyMs = 2
    await Promise.all([t1!.client.fetch('/data'), t2!.client.fetch('/data'), t1!.client.me(), t2!.client.me()])
    expect(b.api.count('/auth/refresh')).toBe(1)
    // the refreshed token was never presented twice: no reuse
    const presented = b.api.calls.filter((c) => c.path === '/auth/refresh').map((c) => (c.body as { refresh_token: string }).refresh_token)
    expect(new Set(presented).size).toBe(presented.length)
  })
})
