// The per-IP limits on login and register hold across instances: every instance counts in one
// place (Postgres by default, Redis with REDIS_URL), so N instances do not allow N times the
// limit. A counter store that fails answers 503 with Retry-After: never a 500, and never a
// request let through uncounted.
//
// The Redis tests run when TEST_REDIS_URL names a Redis server (CI: redis://127.0.0.1:6379);
// each run uses its own key prefix, so runs never see each other's counters.
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildTestApp, type TestApp } from '../helpers/app.js'
import { adminQuery } from '../helpers/database.js'
import { uniqueEmail } from '../helpers/flows.js'
import { post, startCluster, type Cluster } from '../helpers/instances.js'
import { freePort } from '../../src/db/embedded.js'
import { solveProofOfWork } from '../../client/src/index.js'

const LIMITS = { RATE_LIMIT_LOGIN_PER_IP: '3', RATE_LIMIT_REGISTER_PER_IP: '3', RATE_LIMIT_WINDOW_SEC: '60' }
const creds = () => ({ email: uniqueEmail(), password: 'correct horse battery' })

/** Limit 3 per address: 2 requests on A and 2 on B, all from 127.0.0.1: the 4th is refused. */
function crossInstanceTests(getCluster: () => Cluster) {
  it('login: 2 on instance A + 2 on instance B from one address, the 4th is 429', async () => {
    const [a, b] = getCluster().instances.map((i) => i.base) as [string, string]
    const statuses = []
    for (const base of [a, a, b]) statuses.push((await post(base, '/auth/login', creds())).status)
    expect(statuses).toEqual([401, 401, 401])
    const fourth = await post(b, '/auth/login', creds())
    expect(fourth.status).toBe(429)
    expect(fourth.json.error).toBe('too_many_requests')
    expect(Number(fourth.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
    expect(Number(fourth.headers.get('retry-after'))).toBeLessThanOrEqual(60)
    // and A refuses it too
    expect((await post(a, '/auth/login', creds())).status).toBe(429)
  })

  it('register: the same, with its own budget', async () => {
    const [a, b] = getCluster().instances.map((i) => i.base) as [string, string]
    const statuses = []
    for (const base of [a, b, a]) statuses.push((await post(base, '/auth/register', creds())).status)
    expect(statuses).toEqual([202, 202, 202])
    const refused = creds()
    const fourth = await post(b, '/auth/register', refused)
    expect(fourth.status).toBe(429)
    expect(fourth.json.error).toBe('too_many_requests')
    expect(await adminQuery('SELECT 1 FROM auth.users WHERE email = $1', [refused.email], getCluster().databaseUrl)).toEqual([])
  })
}

describe('per-IP limits across two instances, counted in Postgres (the default)', () => {
  let cluster: Cluster
  beforeAll(async () => {
    cluster = await startCluster(2, LIMITS)
  })
  afterAll(() => cluster.close())

  crossInstanceTests(() => cluster)

  it('the counter table holds hashes, never an address', async () => {
    const rows = await adminQuery<{ key: string }>('SELECT key FROM auth.rate_limit_counters', [], cluster.databaseUrl)
    expect(rows.length).toBeGreaterThanOrEqual(2) // login and register
    for (const { key } of rows) expect(key).toMatch(/^[0-9a-f]{64}$/)
  })
})

describe('the per-account proof of work across two instances', () => {
  let cluster: Cluster
  beforeAll(async () => {
    cluster = await startCluster(2, { LOGIN_POW_AFTER_FAILURES: '2', LOGIN_POW_BASE_BITS: '6', LOGIN_POW_MAX_BITS: '8' })
  })
  afterAll(() => cluster.close())

  it('failures on either instance count toward one ceiling, and a challenge from one is answered on the other', async () => {
    const [a, b] = cluster.instances.map((i) => i.base) as [string, string]
    const email = uniqueEmail()
    const password = 'correct horse battery'
    expect((await post(a, '/auth/register', { email, password })).status).toBe(202)
    expect((await post(a, '/auth/login', { email, password: 'wrong guess 1' })).json.error).toBe('invalid_credentials')
    expect((await post(b, '/auth/login', { email, password: 'wrong guess 2' })).json.error).toBe('invalid_credentials')
    const onA = await post(a, '/auth/login', { email, password: 'wrong guess 3' })
    expect(onA.json).toMatchObject({ error: 'proof_of_work_required', difficulty: 6 })
    const wrong = { email, password: 'wrong guess 3' }
    const proof = { challenge: onA.json.challenge, nonce: await solveProofOfWork(onA.json.challenge, onA.json.difficulty, wrong.password) }
    expect((await post(b, '/auth/login', { ...wrong, proof })).json.error).toBe('invalid_credentials')
    // spent on B, so refused on A too
    expect((await post(a, '/auth/login', { ...wrong, proof })).json.error).toBe('proof_of_work_required')
    const onB = await post(b, '/auth/login', { email, password })
    expect(onB.json.error).toBe('proof_of_work_required')
    const ok = await post(a, '/auth/login', { email, password, proof: { challenge: onB.json.challenge, nonce: await solveProofOfWork(onB.json.challenge, onB.json.difficulty, password) } })
    expect(ok.status).toBe(200)
  })
})

const redisUrl = process.env.TEST_REDIS_URL

describe.runIf(redisUrl)('per-IP limits across two instances, counted in Redis (REDIS_URL)', () => {
  const prefix = `test-auth-${randomBytes(6).toString('hex')}:`
  let cluster: Cluster
  let redis: Redis
  beforeAll(async () => {
    redis = new Redis(redisUrl!, { maxRetriesPerRequest: 1 })
    cluster = await startCluster(2, { ...LIMITS, REDIS_URL: redisUrl!, REDIS_KEY_PREFIX: prefix })
  })
  afterAll(async () => {
    await cluster?.close()
    const keys = await redis.keys(`${prefix}*`)
    if (keys.length > 0) await redis.del(...keys)
    redis.disconnect()
  })

  crossInstanceTests(() => cluster)

  it('the counters are in Redis under the prefix, keyed by hashes, and not in Postgres', async () => {
    const keys = await redis.keys(`${prefix}*`)
    expect(keys.length).toBeGreaterThanOrEqual(2)
    for (const key of keys) {
      expect(key.slice(prefix.length)).toMatch(/^rl:[0-9a-f]{64}$/)
      expect(await redis.pttl(key)).toBeGreaterThan(0) // every counter expires by itself
    }
    expect(await adminQuery('SELECT key FROM auth.rate_limit_counters', [], cluster.databaseUrl)).toEqual([])
  })
})

describe('a counter store that fails answers 503 with Retry-After, never 500, never a free pass', () => {
  let t: TestApp
  beforeAll(async () => {
    t = await buildTestApp({ env: { ...LIMITS, DB_LOCK_TIMEOUT_MS: '200' } })
  })
  afterAll(() => t.close())

  const login = () => t.app.inject({ method: 'POST', url: '/auth/login', payload: creds() })
  const register = () => t.app.inject({ method: 'POST', url: '/auth/register', payload: creds() })

  function expectUnavailable(res: Awaited<ReturnType<typeof login>>) {
    expect(res.statusCode, res.body).toBe(503)
    expect(res.json()).toEqual({ error: 'service_unavailable', error_description: expect.any(String) })
    expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1)
  }

  it('Postgres: the counter table locked elsewhere (busy): 503, then fine once released', async () => {
    const holder = new pg.Client({ connectionString: t.databaseUrl })
    await holder.connect()
    try {
      await holder.query('BEGIN')
      await holder.query(`DO $$ BEGIN IF to_regclass('auth.rate_limit_counters') IS NOT NULL THEN
        LOCK TABLE auth.rate_limit_counters IN ACCESS EXCLUSIVE MODE; END IF; END $$`)
      expectUnavailable(await login())
      expectUnavailable(await register())
      await holder.query('ROLLBACK')
    } finally {
      await holder.end()
    }
    expect((await login()).statusCode).toBe(401)
  })

  it('Postgres: the counter table unusable (an operator error, not a transient one): still 503', async () => {
    await adminQuery('ALTER TABLE IF EXISTS auth.rate_limit_counters RENAME TO rate_limit_counters_gone', [], t.databaseUrl)
    try {
      expectUnavailable(await login())
      expectUnavailable(await register())
    } finally {
      await adminQuery('ALTER TABLE IF EXISTS auth.rate_limit_counters_gone RENAME TO rate_limit_counters', [], t.databaseUrl)
    }
  })

  it('Redis unreachable: 503 within a few seconds', async () => {
    const port = await freePort() // nothing listens there
    const r = await buildTestApp({ env: { ...LIMITS, REDIS_URL: `redis://127.0.0.1:${port}` } })
    try {
      for (const call of [
        () => r.app.inject({ method: 'POST', url: '/auth/login', payload: creds() }),
        () => r.app.inject({ method: 'POST', url: '/auth/register', payload: creds() }),
      ]) {
        const started = Date.now()
        expectUnavailable(await call())
        expect(Date.now() - started).toBeLessThan(5000)
      }
    } finally {
      await r.close()
    }
  })
})
