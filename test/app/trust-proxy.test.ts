// Which address is the client's, per TRUST_PROXY setting, as the per-IP limit, the failed-login
// lock and the stored session see it. X-Forwarded-For is written by whoever sends it: only the
// entries a trusted proxy appended say anything, and text that is not an IP is never used.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildTestApp, type TestApp } from '../helpers/app.js'
import { adminQuery } from '../helpers/database.js'
import { bearer, register, uniqueEmail } from '../helpers/flows.js'
import { attemptKey } from '../../src/limits/policy.js'

// Small budgets so a bypass shows within a few requests; a lock after one failure that lasts
// the whole test.
const LIMITS = {
  RATE_LIMIT_LOGIN_PER_IP: '3',
  RATE_LIMIT_WINDOW_SEC: '60',
  LOGIN_LOCK_AFTER_FAILURES: '1',
  LOGIN_LOCK_BASE_SEC: '60',
  LOGIN_LOCK_MAX_SEC: '60',
}

const XSS = '<script>alert(1)</script>'

function client(t: TestApp) {
  const login = (payload: object, remoteAddress: string, xff?: string) =>
    t.app.inject({
      method: 'POST',
      url: '/auth/login',
      payload,
      remoteAddress,
      headers: xff === undefined ? {} : { 'x-forwarded-for': xff },
    })
  /** Logs a new user in through the given hop(s); the address the server stored for that session. */
  const sessionIp = async (remoteAddress: string, xff?: string): Promise<string | null> => {
    const user = await register(t.app)
    const res = await login(user, remoteAddress, xff)
    expect(res.statusCode, res.body).toBe(200)
    const list = await t.app.inject({ url: '/auth/sessions', headers: bearer(res.json().access_token) })
    expect(list.statusCode).toBe(200)
    return list.json().sessions[0].ip
  }
  const lockRow = async (email: string, ip: string) =>
    (await adminQuery('SELECT failures FROM auth.login_attempts WHERE key = $1', [attemptKey(email, ip)], t.databaseUrl))[0] ?? null
  return { login, sessionIp, lockRow }
}

describe('TRUST_PROXY unset: nothing in front, the peer is the client', () => {
  let t: TestApp
  let c: ReturnType<typeof client>
  beforeAll(async () => {
    t = await buildTestApp({ env: LIMITS })
    c = client(t)
  })
  afterAll(() => t.close())

  it('a spoofed X-Forwarded-For is not stored: the session records the peer', async () => {
    expect(await c.sessionIp('203.0.113.10', '198.51.100.77')).toBe('203.0.113.10')
  })

  it('rotating X-Forwarded-For on every guess does not get past the per-IP login limit', async () => {
    // A new account per guess, as in credential stuffing: only the per-IP limit can stop it.
    const creds = () => ({ email: uniqueEmail(), password: 'guess-guess' })
    for (let i = 0; i < 3; i++) expect((await c.login(creds(), '203.0.113.11', `198.51.100.${i}`)).statusCode).toBe(401)
    expect((await c.login(creds(), '203.0.113.11', '198.51.100.99')).statusCode).toBe(429)
  })

  it("the victim's address in a spoofed header locks only the attacker's own address", async () => {
    const VICTIM = '203.0.113.12'
    const ATTACKER = '203.0.113.13'
    const user = await register(t.app)
    for (let i = 0; i < 2; i++) expect((await c.login({ email: user.email, password: `wrong-${i}-wrong` }, ATTACKER, VICTIM)).statusCode).toBe(401)
    expect((await c.login(user, ATTACKER, VICTIM)).statusCode).toBe(429)
    expect(await c.lockRow(user.email, ATTACKER)).not.toBeNull()
    expect(await c.lockRow(user.email, VICTIM)).toBeNull()
    expect((await c.login(user, VICTIM)).statusCode).toBe(200)
  })

  it('an IPv4 client on a dual-stack socket is stored as its IPv4 address', async () => {
    expect(await c.sessionIp('::ffff:203.0.113.14')).toBe('203.0.113.14')
  })
})

describe('TRUST_PROXY=1: one load balancer that appends the client address', () => {
  const LB = '10.0.0.2'
  let t: TestApp
  let c: ReturnType<typeof client>
  beforeAll(async () => {
    t = await buildTestApp({ env: { ...LIMITS, TRUST_PROXY: '1' } })
    c = client(t)
  })
  afterAll(() => t.close())

  it('the rightmost entry (what the load balancer appended) is the client; a client-written leftmost one is ignored', async () => {
    expect(await c.sessionIp(LB, '203.0.113.20')).toBe('203.0.113.20')
    expect(await c.sessionIp(LB, '198.51.100.1, 203.0.113.21')).toBe('203.0.113.21')
    expect(await c.sessionIp(LB, '198.51.100.1,198.51.100.2 ,203.0.113.21')).toBe('203.0.113.21')
  })

  it('without the header (a health check, the balancer itself) the peer is the client', async () => {
    expect(await c.sessionIp(LB)).toBe(LB)
  })

  it('rotating a client-written entry does not get past the per-IP login limit', async () => {
    // A new account per guess, as in credential stuffing: only the per-IP limit can stop it.
    const creds = () => ({ email: uniqueEmail(), password: 'guess-guess' })
    for (let i = 0; i < 3; i++) expect((await c.login(creds(), LB, `198.51.100.${i}, 203.0.113.22`)).statusCode).toBe(401)
    expect((await c.login(creds(), LB, '198.51.100.99, 203.0.113.22')).statusCode).toBe(429)
    // Someone else behind the same balancer has their own budget.
    expect((await c.login(creds(), LB, '203.0.113.23')).statusCode).toBe(401)
  })

  it("the victim's address written by the attacker cannot lock the victim out", async () => {
    const VICTIM = '203.0.113.24'
    const ATTACKER = '203.0.113.25'
    const user = await register(t.app)
    for (let i = 0; i < 2; i++) {
      expect((await c.login({ email: user.email, password: `wrong-${i}-wrong` }, LB, `${VICTIM}, ${ATTACKER}`)).statusCode).toBe(401)
    }
    expect((await c.login(user, LB, `${VICTIM}, ${ATTACKER}`)).statusCode).toBe(429)
    expect(await c.lockRow(user.email, ATTACKER)).not.toBeNull()
    expect(await c.lockRow(user.email, VICTIM)).toBeNull()
    expect((await c.login(user, LB, VICTIM)).statusCode).toBe(200)
  })

  it('an entry that is not an IP is never stored or returned: the peer address stands in', async () => {
    const user = await register(t.app)
    const res = await c.login(user, LB, XSS)
    expect(res.statusCode).toBe(200)
    const list = await t.app.inject({ url: '/auth/sessions', headers: bearer(res.json().access_token) })
    expect(list.json().sessions.map((s: { ip: string }) => s.ip)).toEqual([LB])
    expect(list.body).not.toContain('alert(1)')
    // A failure is an audit event too.
    await c.login({ email: user.email, password: 'wrong-wrong-wrong' }, LB, XSS)
    const events = await t.app.inject({ url: '/auth/sessions/events', headers: bearer(res.json().access_token) })
    expect(events.statusCode).toBe(200)
    expect(events.body).not.toContain('alert(1)')
    const stored = await adminQuery(
      `SELECT ip FROM auth.token_families WHERE ip LIKE '%alert%' UNION ALL SELECT ip FROM auth.audit_events WHERE ip LIKE '%alert%'`,
      [],
      t.databaseUrl,
    )
    expect(stored).toEqual([])
  })

  it('a garbage entry is a normal request, never a 500, and is limited as the peer', async () => {
    // A new account per guess, as in credential stuffing: only the per-IP limit can stop it.
    const creds = () => ({ email: uniqueEmail(), password: 'guess-guess' })
    const junk = ['not-an-ip', '999.1.1.1', '203.0.113.26:443', '[2001:db8::1]', '%zz', 'fe80::1%<b>']
    const codes = []
    for (const j of junk) codes.push((await c.login(creds(), '10.0.0.3', j)).statusCode)
    // All six share the peer's budget of 3.
    expect(codes).toEqual([401, 401, 401, 429, 429, 429])
  })
})

describe('TRUST_PROXY as a list: only hops inside it are skipped', () => {
  let t: TestApp
  let c: ReturnType<typeof client>
  beforeAll(async () => {
    t = await buildTestApp({ env: { ...LIMITS, TRUST_PROXY: '10.0.0.0/8, 192.0.2.7' } })
    c = client(t)
  })
  afterAll(() => t.close())

  it('the first address from the right that is not a listed proxy is the client', async () => {
    expect(await c.sessionIp('10.1.2.3', '203.0.113.30')).toBe('203.0.113.30')
    expect(await c.sessionIp('10.1.2.3', '198.51.100.5, 203.0.113.31, 192.0.2.7')).toBe('203.0.113.31')
    expect(await c.sessionIp('10.1.2.3', '198.51.100.5, 203.0.113.32, 10.200.0.9')).toBe('203.0.113.32')
  })

  it('an address outside the list stops the walk, whatever is written to its left', async () => {
    expect(await c.sessionIp('10.0.0.1', '192.0.2.7, 203.0.113.33, 10.0.0.5')).toBe('203.0.113.33')
  })

  it('a peer outside the list is the client, whatever it forwards', async () => {
    expect(await c.sessionIp('203.0.113.34', '198.51.100.6')).toBe('203.0.113.34')
    expect(await c.sessionIp('192.0.2.8', '198.51.100.6')).toBe('192.0.2.8')
  })

  it('rotating client-written entries does not get past the per-IP limit', async () => {
    // A new account per guess, as in credential stuffing: only the per-IP limit can stop it.
    const creds = () => ({ email: uniqueEmail(), password: 'guess-guess' })
    for (let i = 0; i < 3; i++) expect((await c.login(creds(), '10.0.0.1', `198.51.100.${i}, 203.0.113.35, 192.0.2.7`)).statusCode).toBe(401)
    expect((await c.login(creds(), '10.0.0.1', '198.51.100.99, 203.0.113.35, 192.0.2.7')).statusCode).toBe(429)
  })

  it('an entry that is not an IP, reached through listed proxies, is replaced by the peer', async () => {
    expect(await c.sessionIp('10.0.0.4', `${XSS}, 192.0.2.7`)).toBe('10.0.0.4')
  })
})

describe('logs', () => {
  const lines: string[] = []
  let t: TestApp
  beforeAll(async () => {
    t = await buildTestApp({ env: { TRUST_PROXY: '1', LOG_LEVEL: 'info' }, logStream: { write: (l: string) => void lines.push(l) } })
  })
  afterAll(() => t.close())

  it('the request log and the audit line carry the address, never header text that is not one', async () => {
    const user = await register(t.app)
    await client(t).login(user, '10.0.0.2', XSS)
    expect(lines.some((l) => l.includes('"remoteAddress":"10.0.0.2"'))).toBe(true)
    expect(lines.some((l) => l.includes('"audit"') && l.includes('"ip":"10.0.0.2"'))).toBe(true)
    expect(lines.filter((l) => l.includes('alert(1)'))).toEqual([])
  })
})
