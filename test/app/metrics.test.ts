// GET /metrics as an operator scrapes it (METRICS=true, METRICS_TOKEN set): what each series
// counts, read from the Prometheus text the route answers, after requests whose outcome the
// test chose. Values are compared before and after, so other requests never blur them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildTestApp, type TestApp } from '../helpers/app.js'
import { bearer, loginBearer, refreshJson, register } from '../helpers/flows.js'

const TOKEN = 'metrics-scrape-token-for-this-test'
let t: TestApp
beforeAll(async () => {
  t = await buildTestApp({ env: { METRICS: 'true', METRICS_TOKEN: TOKEN, REFRESH_REUSE_WINDOW: '0', RATE_LIMIT_REFRESH_PER_SESSION: '2', RATE_LIMIT_WINDOW_SEC: '60' } })
})
afterAll(() => t.close())

async function scrape(): Promise<string> {
  const res = await t.app.inject({ url: '/metrics', headers: { authorization: `Bearer ${TOKEN}` } })
  expect(res.statusCode).toBe(200)
  expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/)
  return res.body
}

/** The value of one series, `name{labels}`, in Prometheus' text format; 0 when absent. */
function value(text: string, name: string, labels: Record<string, string> = {}): number {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`)
  let sum = 0
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(\{([^}]*)\})? (\S+)$/.exec(line)
    if (!m || m[1] !== name) continue
    const have = (m[3] ?? '').split(',').filter(Boolean)
    if (want.every((w) => have.includes(w))) sum += Number(m[4])
  }
  return sum
}

async function delta(run: () => Promise<unknown>, read: (text: string) => number): Promise<number> {
  const before = read(await scrape())
  await run()
  return read(await scrape()) - before
}

describe('GET /metrics', () => {
  it('answers only the operator token: 401 with a Bearer challenge otherwise', async () => {
    for (const authorization of [undefined, 'Bearer wrong', `Bearer ${TOKEN}x`, TOKEN]) {
      const res = await t.app.inject({ url: '/metrics', headers: authorization ? { authorization } : {} })
      expect([res.statusCode, res.json().error, res.headers['www-authenticate']]).toEqual([401, 'unauthorized', 'Bearer'])
    }
    expect(await scrape()).toContain('# TYPE auth_db_statements_total counter')
  })

  it('counts login outcomes: success and invalid_credentials', async () => {
    const user = await register(t.app)
    const login = (password: string) => t.app.inject({ method: 'POST', url: '/auth/login', payload: { email: user.email, password } })
    expect(await delta(() => login(user.password), (m) => value(m, 'auth_login_total', { outcome: 'success' }))).toBe(1)
    expect(await delta(() => login('not the password'), (m) => value(m, 'auth_login_total', { outcome: 'invalid_credentials' }))).toBe(1)
  })

  it('counts refresh outcomes: rotate, limited, reuse, revoked and unknown', async () => {
    const s = await loginBearer(t.app)
    const outcome = (o: string) => (m: string) => value(m, 'auth_refresh_total', { outcome: o })
    let child = ''
    expect(await delta(async () => (child = (await refreshJson(t.app, s.refreshToken)).json().refresh_token), outcome('rotate'))).toBe(1)
    const second = await refreshJson(t.app, child)
    expect(second.statusCode).toBe(200)
    // Two rotations per window: the third is limited, and changes nothing.
    expect(await delta(async () => expect((await refreshJson(t.app, second.json().refresh_token)).statusCode).toBe(429), outcome('limited'))).toBe(1)
    // With no reuse window, the first token again is reuse; after that the family is revoked.
    expect(await delta(async () => expect((await refreshJson(t.app, s.refreshToken)).json().error).toBe('refresh_token_reused'), outcome('reuse'))).toBe(1)
    expect(await delta(async () => expect((await refreshJson(t.app, second.json().refresh_token)).json().error).toBe('session_revoked'), outcome('revoked'))).toBe(1)
    expect(await delta(async () => expect((await refreshJson(t.app, 'A'.repeat(43))).statusCode).toBe(401), outcome('unknown'))).toBe(1)
  })

  it('the denylist size grows by the sessions a logout revokes', async () => {
    const s = await loginBearer(t.app)
    const grew = await delta(
      () => t.app.inject({ method: 'POST', url: '/auth/logout', headers: bearer(s.accessToken) }),
      (m) => value(m, 'auth_denylist_size'),
    )
    expect(grew).toBe(1)
  })

  it('counts database statements, and none for a protected route', async () => {
    const s = await loginBearer(t.app)
    expect(await delta(() => refreshJson(t.app, s.refreshToken), (m) => value(m, 'auth_db_statements_total'))).toBeGreaterThanOrEqual(1)
    const me = await delta(() => t.app.inject({ url: '/auth/me', headers: bearer(s.accessToken) }), (m) => value(m, 'auth_db_statements_total'))
    expect(me).toBe(0)
  })

  it("observes the latency of the plugin's routes by method, route and status", async () => {
    const count = (m: string) => value(m, 'auth_http_request_duration_seconds_count', { method: 'POST', route: '/auth/login', status: '401' })
    const observed = await delta(() => t.app.inject({ method: 'POST', url: '/auth/login', payload: { email: 'nobody@example.com', password: 'whatever123' } }), count)
    expect(observed).toBe(1)
    const text = await scrape()
    expect(value(text, 'auth_http_request_duration_seconds_bucket', { method: 'POST', route: '/auth/login', status: '401', le: '+Inf' })).toBeGreaterThanOrEqual(1)
    // The process's own series (prom-client's defaults) are there for the operator too.
    expect(value(text, 'process_resident_memory_bytes')).toBeGreaterThan(0)
  })
})
