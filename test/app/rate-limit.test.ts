// Rate limits: per client IP on login and register (@fastify/rate-limit), per session on
// refresh. A limited request answers 429 too_many_requests with Retry-After and changes
// nothing; a refresh limit never ends a session.
import { createHash } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildTestApp, metricValue, settledStatements, type TestApp } from '../helpers/app.js'
import { adminQuery } from '../helpers/database.js'
import { COOKIE, cookieHeader, loginBearer, loginCookie, refreshJson, register, sidOf, uniqueEmail } from '../helpers/flows.js'
import { post, signup, startCluster, type Cluster } from '../helpers/instances.js'
import { hashRefreshToken } from '../../src/tokens/refresh-token.js'
import { attemptKey, ipKey } from '../../src/limits/policy.js'

let t: TestApp
beforeAll(async () => {
  t = await buildTestApp({
    env: {
      RATE_LIMIT_LOGIN_PER_IP: '3',
      RATE_LIMIT_REGISTER_PER_IP: '2',
      RATE_LIMIT_REFRESH_PER_SESSION: '3',
      RATE_LIMIT_MAIL_PER_IP: '2',
      RATE_LIMIT_CODE_PER_IP: '2',
      RATE_LIMIT_WINDOW_SEC: '2',
      // The statement counts below must see only the login's: the denylist's catch-up every
      // 200 ms (the test default) would land between two reads now and then.
      DENYLIST_SYNC_INTERVAL_MS: '60000',
    },
  })
})
afterAll(() => t.close())

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const from = (remoteAddress: string) => ({
  login: (payload: object) => t.app.inject({ method: 'POST', url: '/auth/login', payload, remoteAddress }),
  register: (payload: object) => t.app.inject({ method: 'POST', url: '/auth/register', payload, remoteAddress }),
})

function expectLimited(res: { statusCode: number; headers: Record<string, unknown>; json(): unknown }, maxRetryAfter: number) {
  expect(res.statusCode).toBe(429)
  expect(res.json()).toEqual({ error: 'too_many_requests', error_description: expect.any(String) })
  const retryAfter = Number(res.headers['retry-after'])
  expect(retryAfter).toBeGreaterThanOrEqual(1)
  expect(retryAfter).toBeLessThanOrEqual(maxRetryAfter)
}

describe('per-IP limit on login', () => {
  it('past the limit one address gets 429 with Retry-After; another address is not affected', async () => {
    const ip = from('198.51.100.1')
    const creds = { email: uniqueEmail(), password: 'whatever123' }
    for (let i = 0; i < 3; i++) expect((await ip.login(creds)).statusCode).toBe(401)
    expectLimited(await ip.login(creds), 2)
    expect((await from('198.51.100.2').login(creds)).statusCode).toBe(401)
  })

  it('a limited login changes nothing: not even the failed-login counter', async () => {
    const ip = from('198.51.100.3')
    const user = await register(t.app)
    for (let i = 0; i < 3; i++) await ip.login({ email: uniqueEmail(), password: 'whatever123' })
    expectLimited(await ip.login(user), 2)
    const rows = await adminQuery('SELECT 1 FROM auth.login_attempts WHERE key = $1', [attemptKey(user.email, '198.51.100.3')], t.databaseUrl)
    expect(rows).toEqual([])
    const families = await adminQuery('SELECT 1 FROM auth.token_families f JOIN auth.users u ON u.id = f.user_id WHERE u.email = $1', [user.email], t.databaseUrl)
    expect(families).toEqual([])
  })

  it('an address refused once is refused again by this instance without a statement until its window ends', async () => {
    const ip = from('198.51.100.4')
    const creds = { email: uniqueEmail(), password: 'whatever123' }
    for (let i = 0; i < 3; i++) expect((await ip.login(creds)).statusCode).toBe(401)
    // counted in the login's gate statement, which refuses it
    const before = await settledStatements(t.app)
    expectLimited(await ip.login(creds), 2)
    expect((await metricValue(t.app, 'auth_db_statements_total')) - before).toBe(1)
    // then remembered
    const remembered = await settledStatements(t.app)
    expectLimited(await ip.login(creds), 2)
    expect((await metricValue(t.app, 'auth_db_statements_total')) - remembered).toBe(0)
    const key = createHash('sha256').update(`login\n${ipKey('198.51.100.4')}`, 'utf8').digest('hex')
    expect(await adminQuery('SELECT count FROM auth.rate_limit_counters WHERE key = $1', [key], t.databaseUrl)).toEqual([{ count: 4 }])
  })

  it('counts an IPv6 client by its /64, and the window reopens by itself', async () => {
    const creds = { email: uniqueEmail(), password: 'whatever123' }
    for (let i = 0; i < 3; i++) await from(`2001:db8:aa:1::${i + 1}`).login(creds)
    expectLimited(await from('2001:db8:aa:1::ffff').login(creds), 2)
    expect((await from('2001:db8:aa:2::1').login(creds)).statusCode).toBe(401)
    await sleep(2100)
    expect((await from('2001:db8:aa:1::1').login(creds)).statusCode).toBe(401)
  })
})

describe('per-IP limits on the mail flows', () => {
  it('forgot, resend and the submission of codes: 429 past the limit, before the body is read; another address is not affected', async () => {
    const call = (url: string, payload: object, remoteAddress: string) => t.app.inject({ method: 'POST', url, payload, remoteAddress })
    for (const [url, payload] of [
      ['/auth/password/forgot', { email: 'x@example.com' }],
      ['/auth/email/verify/resend', { email: 'y@example.com' }],
      ['/auth/password/reset', { email: 'x@example.com', code: '123456', new_password: 'whatever123' }],
      ['/auth/email/verify', { email: 'x@example.com', code: '123456' }],
    ] as const) {
      const answers = []
      for (let i = 0; i < 2; i++) answers.push((await call(url, payload, '198.51.100.40')).statusCode)
      expect(answers.every((s) => s !== 429), url).toBe(true)
      expectLimited(await call(url, payload, '198.51.100.40'), 2)
      expect((await call(url, payload, '198.51.100.41')).statusCode, url).not.toBe(429)
    }
  })
})

describe('per-IP limit on register', () => {
  it('past the limit: 429, and no account is created; login has its own budget', async () => {
    const ip = from('198.51.100.10')
    expect((await ip.register({ email: uniqueEmail(), password: 'whatever123' })).statusCode).toBe(202)
    expect((await ip.register({ email: uniqueEmail(), password: 'whatever123' })).statusCode).toBe(202)
    const refused = uniqueEmail()
    expectLimited(await ip.register({ email: refused, password: 'whatever123' }), 2)
    expect(await adminQuery('SELECT 1 FROM auth.users WHERE email = $1', [refused], t.databaseUrl)).toEqual([])
    expect((await ip.login({ email: refused, password: 'whatever123' })).statusCode).toBe(401)
  })
})

describe('per-session limit on refresh', () => {
  // Its own app: only the refresh limit is small here.
  let t: TestApp
  beforeAll(async () => {
    t = await buildTestApp({ env: { RATE_LIMIT_REFRESH_PER_SESSION: '3', RATE_LIMIT_WINDOW_SEC: '2' } })
  })
  afterAll(() => t.close())

  it('past the limit: 429 with Retry-After, the token is not spent, the session lives, and the same token works later', async () => {
    const s = await loginBearer(t.app)
    let token = s.refreshToken
    for (let i = 0; i < 3; i++) {
      const r = await refreshJson(t.app, token)
      expect(r.statusCode).toBe(200)
      token = r.json().refresh_token
    }
    expectLimited(await refreshJson(t.app, token), 2)
    const [row] = await adminQuery('SELECT spent_at FROM auth.refresh_tokens WHERE token_hash = $1', [hashRefreshToken(token)], t.databaseUrl)
    expect(row).toEqual({ spent_at: null })
    const [fam] = await adminQuery('SELECT revoked_at FROM auth.token_families WHERE id = $1', [sidOf(s.accessToken)], t.databaseUrl)
    expect(fam).toEqual({ revoked_at: null })
    await sleep(2100)
    expect((await refreshJson(t.app, token)).statusCode).toBe(200)
  })

  it('is per session, not per address: another session from the same IP is not limited', async () => {
    const user = await register(t.app)
    const a = await loginBearer(t.app, user.email, user.password)
    const b = await loginBearer(t.app, user.email, user.password)
    let token = a.refreshToken
    for (let i = 0; i < 3; i++) token = (await refreshJson(t.app, token)).json().refresh_token
    expect((await refreshJson(t.app, token)).statusCode).toBe(429)
    expect((await refreshJson(t.app, b.refreshToken)).statusCode).toBe(200)
  })

  it('by cookie: a limited refresh leaves the cookies in place', async () => {
    const user = await register(t.app)
    let web = await loginCookie(t.app, user)
    for (let i = 0; i < 3; i++) {
      const r = await t.app.inject({ method: 'POST', url: '/auth/refresh', headers: web.headers })
      expect(r.statusCode).toBe(200)
      const c = Object.fromEntries(r.cookies.map((k) => [k.name, k.value]))
      web = { ...web, access: c.access_token!, refresh: c.refresh_token!, headers: { ...COOKIE, cookie: cookieHeader(c) } }
    }
    const limited = await t.app.inject({ method: 'POST', url: '/auth/refresh', headers: web.headers })
    expect(limited.statusCode).toBe(429)
    expect(limited.cookies).toEqual([])
  })

  it('an OAuth form client is told 429, never invalid_grant (which it would take as a logout)', async () => {
    const s = await loginBearer(t.app)
    let token = s.refreshToken
    for (let i = 0; i < 3; i++) token = (await refreshJson(t.app, token)).json().refresh_token
    const res = await t.app.inject({
      method: 'POST',
      url: '/auth/refresh',
      payload: `grant_type=refresh_token&refresh_token=${token}`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    })
    expectLimited(res, 2)
  })

  it('reuse is still detected in a limited session: theft detection is never rate limited', async () => {
    const s = await loginBearer(t.app)
    let token = s.refreshToken
    for (let i = 0; i < 3; i++) token = (await refreshJson(t.app, token)).json().refresh_token
    expect((await refreshJson(t.app, token)).statusCode).toBe(429)
    await adminQuery(`UPDATE auth.refresh_tokens SET created_at = created_at - interval '1 minute' WHERE family_id = $1`, [sidOf(s.accessToken)], t.databaseUrl)
    expect((await refreshJson(t.app, s.refreshToken)).json().error).toBe('refresh_token_reused')
  })
})

describe('default limits leave room for real clients', () => {
  let cluster: Cluster
  beforeAll(async () => {
    // Production defaults for every limit.
    cluster = await startCluster(1, { RATE_LIMIT_LOGIN_PER_IP: '', RATE_LIMIT_REGISTER_PER_IP: '' })
  })
  afterAll(() => cluster.close())

  it('twenty tabs refreshing one session at once, then each retrying, all get 200', async () => {
    const base = cluster.instances[0]!.base
    const s = await signup(base)
    const burst = await Promise.all(Array.from({ length: 20 }, () => post(base, '/auth/refresh', { refresh_token: s.refreshToken })))
    const retries = await Promise.all(Array.from({ length: 20 }, () => post(base, '/auth/refresh', { refresh_token: s.refreshToken })))
    expect([...burst, ...retries].map((r) => r.status)).toEqual(Array(40).fill(200))
  })

  it('fifty people behind one address log in within a minute', async () => {
    const base = cluster.instances[0]!.base
    const people = []
    for (let i = 0; i < 25; i++) people.push(await signup(base, `office-${i}`))
    const logins = await Promise.all(people.flatMap((p) => [1, 2].map(() => post(base, '/auth/login', { email: p.email, password: p.password }))))
    expect(logins.map((r) => r.status)).toEqual(Array(50).fill(200))
  })
})
