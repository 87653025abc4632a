// The failure counter on POST /auth/login, per account and client IP: a growing, always
// temporary lock, identical for an address that has an account and one that does not, that an
// attacker elsewhere cannot use to lock the owner out.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildTestApp, type TestApp } from '../../helpers/app.js'
import { adminQuery } from '../../helpers/database.js'
import { register, uniqueEmail } from '../../helpers/flows.js'
import { attemptKey } from '../../../src/limits/policy.js'

let t: TestApp
beforeAll(async () => {
  // Two free failures, then 1 s, 2 s, 4 s, … capped at 4 s: small enough to wait out. The
  // per-account proof of work (login-proof-of-work.test.ts) is kept out of the way: this file
  // is about the per-address lock alone.
  t = await buildTestApp({
    env: { LOGIN_LOCK_AFTER_FAILURES: '2', LOGIN_LOCK_BASE_SEC: '1', LOGIN_LOCK_MAX_SEC: '4', LOGIN_POW_AFTER_FAILURES: '1000' },
  })
})
afterAll(() => t.close())

// inject's default client address; the attacker tests pick others.
const OWNER_IP = '127.0.0.1'
const login = (email: string, password: string, remoteAddress = OWNER_IP) =>
  t.app.inject({ method: 'POST', url: '/auth/login', payload: { email, password }, remoteAddress })
const counter = async (email: string, ip = OWNER_IP) =>
  (await adminQuery<{ failures: number; locked_until: Date | null }>('SELECT failures, locked_until FROM auth.login_attempts WHERE key = $1', [attemptKey(email, ip)], t.databaseUrl))[0] ?? null
const families = async (email: string) =>
  Number((await adminQuery<{ n: string }>('SELECT count(*) AS n FROM auth.token_families f JOIN auth.users u ON u.id = f.user_id WHERE u.email = $1', [email], t.databaseUrl))[0]!.n)
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('failure counter per account and client IP', () => {
  it('after the free failures the account is locked: 429 with Retry-After, even for the right password, and nothing changes', async () => {
    const user = await register(t.app)
    expect((await login(user.email, 'wrong one!')).statusCode).toBe(401)
    expect((await login(user.email, 'wrong two!')).statusCode).toBe(401)
    expect((await login(user.email, 'wrong three')).statusCode).toBe(401) // earns a 1 s lock
    const before = await counter(user.email)
    const locked = await login(user.email, user.password)
    expect(locked.statusCode).toBe(429)
    expect(locked.json()).toEqual({ error: 'too_many_requests', error_description: expect.any(String) })
    expect(locked.headers['retry-after']).toBe('1')
    expect(await counter(user.email)).toEqual(before) // attempts during a lock do not extend it
    expect(await families(user.email)).toBe(0)
  })

  it('the lock runs out by itself, the right password then logs in, and the counter is reset', async () => {
    const user = await register(t.app)
    for (const p of ['wrong one!', 'wrong two!', 'wrong three']) await login(user.email, p)
    expect((await login(user.email, user.password)).statusCode).toBe(429)
    await sleep(1100)
    expect((await login(user.email, user.password)).statusCode).toBe(200)
    expect(await counter(user.email)).toBeNull()
  })

  // The whole schedule, cap included, is unit-tested in test/limits/policy.test.ts; here the
  // database's clock and the stored lock, waited out for real.
  it('each further failure doubles the lock', async () => {
    const user = await register(t.app)
    const locks: number[] = []
    for (let i = 0; i < 4; i++) {
      await login(user.email, `wrong ${i}!!`)
      const c = await counter(user.email)
      const [{ now }] = await adminQuery<{ now: Date }>('SELECT now()', [], t.databaseUrl) as [{ now: Date }]
      locks.push(c!.locked_until ? Math.round((c!.locked_until.getTime() - now.getTime()) / 1000) : 0)
      if (c!.locked_until) await sleep(c!.locked_until.getTime() - Date.now() + 50)
    }
    expect(locks).toEqual([0, 0, 1, 2])
  })

  it('an unknown address gets exactly the same answers, in the same order, with the same Retry-After', async () => {
    const user = await register(t.app)
    const unknown = uniqueEmail()
    const seq = async (email: string) => {
      const out: string[] = []
      for (const p of ['wrong one!', 'wrong two!', 'wrong three', 'wrong four']) {
        const r = await login(email, p)
        out.push(`${r.statusCode} ${r.headers['retry-after'] ?? '-'} ${r.body}`)
      }
      return out
    }
    const [known, nobody] = await Promise.all([seq(user.email), seq(unknown)])
    expect(nobody).toEqual(known)
    expect(known.map((l) => l.split(' ')[0])).toEqual(['401', '401', '401', '429'])
  })

  it('parallel guesses cannot slip past the lock: each is counted before its password is checked', async () => {
    const user = await register(t.app)
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => login(user.email, `parallel ${i}!`)))
    const statuses = results.map((r) => r.statusCode)
    // The free failures plus the one that earned the lock were checked; the rest never were.
    expect(statuses.filter((s) => s === 401).length).toBe(3)
    expect(statuses.filter((s) => s === 429).length).toBe(17)
  })

  it('another account is not affected by this one\'s lock', async () => {
    const victim = await register(t.app)
    const bystander = await register(t.app)
    for (const p of ['wrong one!', 'wrong two!', 'wrong three']) await login(victim.email, p)
    expect((await login(victim.email, victim.password)).statusCode).toBe(429)
    expect((await login(bystander.email, bystander.password)).statusCode).toBe(200)
  })

  it('the counter is keyed by the normalised address: another spelling is the same account', async () => {
    const user = await register(t.app)
    for (const p of ['wrong one!', 'wrong two!', 'wrong three']) await login(user.email, p)
    expect((await login(`  ${user.email.toUpperCase()} `, user.password)).statusCode).toBe(429)
  })

  it('an attacker who keeps failing locks out only their own address: the owner elsewhere logs in', async () => {
    const user = await register(t.app)
    const attacker = '203.0.113.66'
    // Past the free failures, then once per lock, as an attacker keeping a lock alive would.
    for (const p of ['wrong one!', 'wrong two!', 'wrong three']) expect((await login(user.email, p, attacker)).statusCode).toBe(401)
    expect((await login(user.email, user.password, attacker)).statusCode).toBe(429)
    expect((await counter(user.email, attacker))!.locked_until).not.toBeNull()
    // The owner, from another address, is neither refused nor counted.
    expect((await login(user.email, user.password)).statusCode).toBe(200)
    expect(await counter(user.email)).toBeNull()
    // and the owner's success does not lift the attacker's lock.
    expect((await login(user.email, user.password, attacker)).statusCode).toBe(429)
  })

  it('clients in one IPv6 /64 share a counter, as one subscriber\'s devices do', async () => {
    const user = await register(t.app)
    for (const p of ['wrong one!', 'wrong two!', 'wrong three']) await login(user.email, p, '2001:db8:5:6::1')
    expect((await login(user.email, user.password, '2001:db8:5:6:ffff::2')).statusCode).toBe(429)
    expect((await login(user.email, user.password, '2001:db8:5:7::1')).statusCode).toBe(200)
  })
})
