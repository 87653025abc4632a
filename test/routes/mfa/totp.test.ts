// The authenticator app and its recovery codes, through the routes (inject), on a real
// database, with the plugin's clock held where TOTP steps and step-up ages matter.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { InjectOptions } from 'fastify'
import { createHash } from 'node:crypto'
import { buildTestApp, type TestApp } from '../../helpers/app.js'
import { adminQuery } from '../../helpers/database.js'
import { COOKIE, bearer, cookiesOf, register, refreshJson } from '../../helpers/flows.js'
import { startSmtp, type SmtpSink } from '../../helpers/smtp.js'
import { base32Decode, totp } from '../../../src/mfa/totp.js'
import { MFA_ACR } from '../../../src/mfa/methods.js'
import { solveProofOfWork } from '../../../client/src/index.js'
import { leadingZeroBits, proofHash } from '../../../src/limits/proof-of-work.js'

// Fixed, and moved by hand: 10:00:15 UTC, a quarter into a 30 s step.
const START = Date.UTC(2027, 0, 4, 10, 0, 15)
const clock = { now: START }
const STEP_UP_MAX_AGE = 600

let smtp: SmtpSink
let t: TestApp
beforeAll(async () => {
  smtp = await startSmtp()
  t = await buildTestApp({
    clock: () => clock.now,
    env: {
      SMTP_URL: smtp.url,
      MAIL_FROM: 'Auth Test <auth@example.com>',
      MAIL_PRODUCT_NAME: 'Test Product',
      // small numbers, to reach the limits in a few requests
      LOGIN_LOCK_AFTER_FAILURES: '3',
      LOGIN_POW_AFTER_FAILURES: '8',
      LOGIN_POW_BASE_BITS: '6',
      LOGIN_POW_MAX_BITS: '8',
      MFA_STEP_UP_MAX_AGE_SEC: String(STEP_UP_MAX_AGE),
    },
  })
})
afterAll(async () => {
  await t?.close()
  await smtp?.close()
})

const req = (o: InjectOptions) => t.app.inject(o)
const claimsOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>
const seconds = (ms: number) => Math.floor(ms / 1000)
const login = (email: string, password: string, remoteAddress?: string) => req({ method: 'POST', url: '/auth/login', payload: { email, password }, ...(remoteAddress ? { remoteAddress } : {}) })
const verify = (payload: object, remoteAddress?: string) => req({ method: 'POST', url: '/auth/mfa/verify', payload, ...(remoteAddress ? { remoteAddress } : {}) })
const families = async (userId: string) => (await adminQuery('SELECT count(*)::int AS n FROM auth.token_families WHERE user_id = $1', [userId], t.databaseUrl))[0]!.n as number

interface Enrolled {
  email: string
  password: string
  id: string
  secret: Buffer
  recoveryCodes: string[]
  /** a session that used the second factor just now */
  access: string
  refresh: string
}

/** A new account with the authenticator app on, and a session that has just used it. */
async function enrolled(): Promise<Enrolled> {
  const user = await register(t.app)
  await smtp.next(user.email, /confirm your email/)
  const first = (await login(user.email, user.password)).json()
  const enrol = await req({ method: 'POST', url: '/auth/mfa/totp/enroll', headers: bearer(first.access_token) })
  expect(enrol.statusCode).toBe(200)
  const secret = base32Decode(enrol.json().secret)
  const confirm = await req({ method: 'POST', url: '/auth/mfa/totp/confirm', headers: bearer(first.access_token), payload: { code: totp(secret, clock.now) } })
  expect(confirm.statusCode).toBe(200)
  await smtp.next(user.email, /two-step login is on/)
  // The next step: the confirming code's step is used.
  clock.now += 30_000
  const session = await loginWithCode({ ...user, secret })
  return { ...user, secret, recoveryCodes: confirm.json().recovery_codes, access: session.access_token, refresh: session.refresh_token }
}

async function loginWithCode(u: { email: string; password: string; secret: Buffer }) {
  const challenge = (await login(u.email, u.password)).json().challenge
  const res = await verify({ challenge, code: totp(u.secret, clock.now) })
  expect(res.statusCode, res.body).toBe(200)
  return res.json() as { access_token: string; refresh_token: string }
}

describe('enrolment', () => {
  it('gives an otpauth URI and its QR code, keeps the secret encrypted, and turns on with a first code', async () => {
    const user = await register(t.app)
    await smtp.next(user.email, /confirm your email/)
    const { access_token } = (await login(user.email, user.password)).json()
    const res = await req({ method: 'POST', url: '/auth/mfa/totp/enroll', headers: bearer(access_token) })
    expect(res.statusCode).toBe(200)
    const { secret, otpauth_uri, qr_code } = res.json()
    expect(secret).toMatch(/^[A-Z2-7]{32}$/) // 160 bits
    const uri = new URL(otpauth_uri)
    expect(uri.protocol + uri.host).toBe('otpauth:totp')
    expect(decodeURIComponent(uri.pathname)).toBe(`/Test Product:${user.email}`)
    expect(uri.searchParams.get('secret')).toBe(secret)
    expect(uri.searchParams.get('issuer')).toBe('Test Product')
    expect(qr_code).toMatch(/^data:image\/svg\+xml;base64,/)
    expect(Buffer.from(qr_code.split(',')[1], 'base64').toString()).toMatch(/^<svg[^>]*viewBox/)

    // Stored sealed: neither the base32 nor the raw bytes are in the row.
    const [row] = await adminQuery('SELECT secret_ciphertext, confirmed_at FROM auth.totp_factors WHERE user_id = $1', [user.id], t.databaseUrl)
    expect(row!.confirmed_at).toBeNull()
    expect(row!.secret_ciphertext).toMatch(/^v1\./)
    expect(row!.secret_ciphertext).not.toContain(secret)
    expect(Buffer.from(row!.secret_ciphertext.split('.')[2], 'base64url').includes(base32Decode(secret))).toBe(false)

    // Not on until confirmed: logins still answer tokens.
    expect((await login(user.email, user.password)).statusCode).toBe(200)
    const confirm = (code: string) => req({ method: 'POST', url: '/auth/mfa/totp/confirm', headers: bearer(access_token), payload: { code } })
    const wrong = String((Number(totp(base32Decode(secret), clock.now)) + 1) % 1_000_000).padStart(6, '0')
    expect((await confirm(wrong)).json().error).toBe('invalid_mfa_code')
    const ok = await confirm(totp(base32Decode(secret), clock.now))
    expect(ok.statusCode).toBe(200)
    const codes: string[] = ok.json().recovery_codes
    expect(codes).toHaveLength(10)
    expect(new Set(codes).size).toBe(10)
    for (const c of codes) expect(c).toMatch(/^[0-9a-z]{5}-[0-9a-z]{5}$/)
    // Only keyed hashes are kept: not the codes, not their plain SHA-256.
    const hashes = (await adminQuery('SELECT code_hash FROM auth.recovery_codes WHERE user_id = $1', [user.id], t.databaseUrl)).map((r) => r.code_hash)
    expect(hashes).toHaveLength(10)
    for (const c of codes) {
      for (const form of [c, c.replace('-', '')]) {
        expect(hashes).not.toContain(createHash('sha256').update(form).digest('hex'))
        expect(JSON.stringify(hashes)).not.toContain(form)
      }
    }
    const mail = await smtp.next(user.email, /two-step login is on/)
    expect(mail.text).toContain('Requested from 127.0.0.1')
    expect((await req({ url: '/auth/mfa', headers: bearer(access_token) })).json()).toMatchObject({ totp: { enabled: true }, passkeys: false, recovery_codes_left: 10 })
    // A second enrolment needs a recent second factor first; this session has only a password.
    const again = await req({ method: 'POST', url: '/auth/mfa/totp/enroll', headers: bearer(access_token) })
    expect([again.statusCode, again.json().error]).toEqual([401, 'insufficient_user_authentication'])
    clock.now += 30_000
  })
})

describe('login with the authenticator app', () => {
  it('answers the password with mfa_required and no session; a code starts it, with amr and auth_time that survive refresh', async () => {
    const u = await enrolled()
    const before = await families(u.id)
    const res = await login(u.email, u.password)
    expect(res.statusCode).toBe(401)
    const body = res.json()
    expect(body).toMatchObject({ error: 'mfa_required', methods: ['totp', 'recovery_code'], expires_in: 300 })
    expect(body.challenge).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(body).not.toHaveProperty('access_token')
    expect(res.headers['set-cookie']).toBeUndefined()
    expect(await families(u.id)).toBe(before)
    // Stored as a hash only.
    const stored = await adminQuery('SELECT token_hash FROM auth.mfa_challenges WHERE user_id = $1', [u.id], t.databaseUrl)
    expect(JSON.stringify(stored)).not.toContain(body.challenge)

    clock.now += 30_000
    const ok = await verify({ challenge: body.challenge, code: totp(u.secret, clock.now) })
    expect(ok.statusCode).toBe(200)
    const claims = claimsOf(ok.json().access_token)
    expect(claims.amr).toEqual(['pwd', 'otp', 'mfa'])
    expect(claims.auth_time).toBe(seconds(clock.now))
    expect(await families(u.id)).toBe(before + 1)
    const [event] = await adminQuery(`SELECT reason FROM auth.audit_events WHERE user_id = $1 AND type = 'login_success' ORDER BY created_at DESC LIMIT 1`, [u.id], t.databaseUrl)
    expect(event!.reason).toBe('totp')

    // Hours later, a refresh: a new token, the same authentication.
    clock.now += 3 * 3600_000
    const refreshed = await refreshJson(t.app, ok.json().refresh_token)
    expect(refreshed.statusCode).toBe(200)
    const after = claimsOf(refreshed.json().access_token)
    expect(after.jti).not.toBe(claims.jti)
    expect([after.amr, after.auth_time]).toEqual([claims.amr, claims.auth_time])

    // The challenge is spent.
    clock.now += 30_000
    const again = await verify({ challenge: body.challenge, code: totp(u.secret, clock.now) })
    expect([again.statusCode, again.json().error]).toEqual([401, 'invalid_mfa_challenge'])
  })

  it("the client the login named (RFC 9068 client_id) is the session's after the second step", async () => {
    const u = await enrolled()
    const res = await t.app.inject({ method: 'POST', url: '/auth/login', payload: { email: u.email, password: u.password, client_id: 'mobile' } })
    expect(res.json().error).toBe('mfa_required')
    clock.now += 30_000
    const ok = await verify({ challenge: res.json().challenge, code: totp(u.secret, clock.now) })
    expect(claimsOf(ok.json().access_token).client_id).toBe('mobile')
    expect(claimsOf((await refreshJson(t.app, ok.json().refresh_token)).json().access_token).client_id).toBe('mobile')
  })

  it('accepts a code once: the same code, on a new challenge within its window, is refused, and so is an older one', async () => {
    const u = await enrolled() // used the code of the current step
    const used = totp(u.secret, clock.now)
    const challenge = (await login(u.email, u.password)).json().challenge
    expect((await verify({ challenge, code: used })).json().error).toBe('invalid_mfa_code')
    expect((await verify({ challenge, code: totp(u.secret, clock.now - 30_000) })).json().error).toBe('invalid_mfa_code')
    // Two steps away either way is outside the window.
    expect((await verify({ challenge, code: totp(u.secret, clock.now + 60_000) })).json().error).toBe('invalid_mfa_code')
    // The next step's code (one step of skew) is good, once.
    const next = totp(u.secret, clock.now + 30_000)
    expect((await verify({ challenge, code: next })).statusCode).toBe(200)
    const second = (await login(u.email, u.password)).json().challenge
    expect((await verify({ challenge: second, code: next })).json().error).toBe('invalid_mfa_code')
    clock.now += 60_000
  })

  it('refuses a wrong code with 403, an expired or made-up challenge with 401, and anything but one answer with 400', async () => {
    const u = await enrolled()
    const challenge = (await login(u.email, u.password)).json().challenge
    const wrong = await verify({ challenge, code: '000000' === totp(u.secret, clock.now) ? '000001' : '000000' })
    expect([wrong.statusCode, wrong.json()]).toEqual([403, { error: 'invalid_mfa_code', error_description: 'The code is not valid.' }])
    expect((await verify({ challenge: 'x'.repeat(43), code: '123456' })).json().error).toBe('invalid_mfa_challenge')
    expect((await verify({ challenge })).statusCode).toBe(400)
    expect((await verify({ challenge, code: '123456', recovery_code: u.recoveryCodes[0] })).statusCode).toBe(400)
    expect((await verify({ challenge, code: '12345' })).statusCode).toBe(400)
    // Past its lifetime (on the database's clock) the challenge is refused.
    await adminQuery(`UPDATE auth.mfa_challenges SET expires_at = now() - interval '1 second' WHERE user_id = $1`, [u.id], t.databaseUrl)
    clock.now += 30_000
    expect((await verify({ challenge, code: totp(u.secret, clock.now) })).json().error).toBe('invalid_mfa_challenge')
  })

  it('a changed password makes a pending challenge useless', async () => {
    const u = await enrolled()
    const challenge = (await login(u.email, u.password)).json().challenge
    await adminQuery('UPDATE auth.users SET credentials_version = credentials_version + 1 WHERE id = $1', [u.id], t.databaseUrl)
    clock.now += 30_000
    expect((await verify({ challenge, code: totp(u.secret, clock.now) })).json().error).toBe('invalid_mfa_challenge')
  })
})

describe('guessing codes', () => {
  it('locks the guessing address after repeated wrong codes, never the owner elsewhere', async () => {
    const u = await enrolled()
    const challenge = (await login(u.email, u.password)).json().challenge
    const wrong = totp(u.secret, clock.now + 3600_000)
    const attacker = '10.3.0.1'
    // LOGIN_LOCK_AFTER_FAILURES=3 free failures, then a lock that doubles.
    for (let i = 0; i < 4; i++) expect((await verify({ challenge, code: wrong }, attacker)).statusCode).toBe(403)
    clock.now += 30_000
    const right = totp(u.secret, clock.now)
    const locked = await verify({ challenge, code: right }, attacker)
    expect(locked.statusCode).toBe(429)
    expect(Number(locked.headers['retry-after'])).toBeGreaterThanOrEqual(1)
    // The owner, elsewhere, with the right code: in.
    expect((await verify({ challenge, code: right }, '10.3.0.2')).statusCode).toBe(200)
    // Wrong codes never touched the password's counters.
    expect((await login(u.email, u.password, attacker)).json().error).toBe('mfa_required')
  })

  it('past many wrong codes of the account from every address, asks for a proof of work bound to the code, never a lock', async () => {
    const u = await enrolled()
    const challenge = (await login(u.email, u.password)).json().challenge
    const wrong = totp(u.secret, clock.now + 3600_000)
    // LOGIN_POW_AFTER_FAILURES=8, one guess from each of eight addresses
    for (let i = 1; i <= 8; i++) expect((await verify({ challenge, code: wrong }, `10.4.0.${i}`)).statusCode).toBe(403)
    clock.now += 30_000
    const right = totp(u.secret, clock.now)
    const asked = await verify({ challenge, code: right }, '10.4.1.1')
    expect(asked.statusCode).toBe(401)
    const pow = asked.json()
    expect(pow).toMatchObject({ error: 'proof_of_work_required', difficulty: 6 })
    // A proof made for another code does not do (one that happens to solve for the right code
    // too, a 1 in 2^difficulty chance, is skipped: the point is a proof bound to another code).
    let nonce = 0
    const solves = (code: string, n: number) => leadingZeroBits(proofHash(pow.challenge, code, String(n))) >= pow.difficulty
    while (!solves(wrong, nonce) || solves(right, nonce)) nonce++
    const forWrong = { challenge: pow.challenge, nonce: String(nonce) }
    expect((await verify({ challenge, code: right, proof: forWrong }, '10.4.1.1')).json().error).toBe('proof_of_work_required')
    const again = (await verify({ challenge, code: right }, '10.4.1.1')).json()
    const proof = { challenge: again.challenge, nonce: await solveProofOfWork(again.challenge, again.difficulty, right) }
    const ok = await verify({ challenge, code: right, proof }, '10.4.1.1')
    expect(ok.statusCode, ok.body).toBe(200)
    // The success reset the account's counter: the next login's code needs no proof.
    clock.now += 30_000
    await loginWithCode(u)
  })
})

describe('recovery codes', () => {
  it('each logs in once in place of a code, however it is typed', async () => {
    const u = await enrolled()
    const [first, second] = u.recoveryCodes as [string, string]
    const challenge = (await login(u.email, u.password)).json().challenge
    const ok = await verify({ challenge, recovery_code: first })
    expect(ok.statusCode).toBe(200)
    expect(claimsOf(ok.json().access_token).amr).toEqual(['pwd', 'mfa'])
    expect((await req({ url: '/auth/mfa', headers: bearer(ok.json().access_token) })).json().recovery_codes_left).toBe(9)
    const next = (await login(u.email, u.password)).json().challenge
    expect((await verify({ challenge: next, recovery_code: first })).json().error).toBe('invalid_mfa_code')
    expect((await verify({ challenge: next, recovery_code: ` ${second.toUpperCase().replace('-', ' ')} ` })).statusCode).toBe(200)
  })

  it('new codes need a recent second factor, replace the old ones, and the owner is told', async () => {
    const u = await enrolled()
    const regenerate = (token: string) => req({ method: 'POST', url: '/auth/mfa/recovery-codes', headers: bearer(token) })
    // The session used its code just now: fresh enough.
    const res = await regenerate(u.access)
    expect(res.statusCode).toBe(200)
    const fresh: string[] = res.json().recovery_codes
    expect(fresh).toHaveLength(10)
    expect(fresh.filter((c) => u.recoveryCodes.includes(c))).toEqual([])
    await smtp.next(u.email, /new recovery codes/)
    const challenge = (await login(u.email, u.password)).json().challenge
    expect((await verify({ challenge, recovery_code: u.recoveryCodes[0] })).json().error).toBe('invalid_mfa_code')
    expect((await verify({ challenge, recovery_code: fresh[0] })).statusCode).toBe(200)

    // Past mfa.stepUpMaxAgeSec the same session must step up first.
    clock.now += (STEP_UP_MAX_AGE + 1) * 1000
    const stale = await regenerate(u.access)
    expect([stale.statusCode, stale.json().error]).toEqual([401, 'insufficient_user_authentication'])
    expect(stale.headers['www-authenticate']).toBe(
      `Bearer error="insufficient_user_authentication", error_description="A recent second factor is required: re-authenticate with it.", acr_values="${MFA_ACR}", max_age="${STEP_UP_MAX_AGE}"`,
    )
  })
})

describe('step-up (POST /reauthenticate)', () => {
  it('a code makes the session fresh again: a new access token, the same refresh token, and its refreshes say so too', async () => {
    const u = await enrolled()
    clock.now += (STEP_UP_MAX_AGE + 60) * 1000
    expect((await req({ method: 'POST', url: '/auth/mfa/recovery-codes', headers: bearer(u.access) })).statusCode).toBe(401)
    const reauth = await req({ method: 'POST', url: '/auth/reauthenticate', headers: bearer(u.access), payload: { code: totp(u.secret, clock.now) } })
    expect(reauth.statusCode, reauth.body).toBe(200)
    const body = reauth.json()
    expect(Object.keys(body).sort()).toEqual(['access_token', 'expires_in', 'token_type'])
    const claims = claimsOf(body.access_token)
    expect([claims.amr, claims.auth_time, claims.sid]).toEqual([['pwd', 'otp', 'mfa'], seconds(clock.now), claimsOf(u.access).sid])
    expect((await req({ method: 'POST', url: '/auth/mfa/recovery-codes', headers: bearer(body.access_token) })).statusCode).toBe(200)
    // The session itself changed: its next refresh carries the new authentication.
    const refreshed = claimsOf((await refreshJson(t.app, u.refresh)).json().access_token)
    expect([refreshed.amr, refreshed.auth_time]).toEqual([claims.amr, claims.auth_time])
    // With a second factor, a password does not step up.
    const pw = await req({ method: 'POST', url: '/auth/reauthenticate', headers: bearer(body.access_token), payload: { password: u.password } })
    expect([pw.statusCode, pw.json().error]).toEqual([400, 'invalid_request'])
    // A wrong code: 403, not a 401 that would make a client drop its session.
    expect((await req({ method: 'POST', url: '/auth/reauthenticate', headers: bearer(body.access_token), payload: { code: totp(u.secret, clock.now + 3600_000) } })).statusCode).toBe(403)
    clock.now += 30_000
  })

  it('by cookie: only the access cookie is set', async () => {
    const u = await enrolled()
    const challenge = (await login(u.email, u.password)).json().challenge
    clock.now += 30_000
    const res = await req({ method: 'POST', url: '/auth/mfa/verify', headers: COOKIE, payload: { challenge, code: totp(u.secret, clock.now) } })
    const c = cookiesOf(res)
    clock.now += 30_000
    const reauth = await req({
      method: 'POST',
      url: '/auth/reauthenticate',
      headers: { ...COOKIE, cookie: `access_token=${c.access_token!.value}; refresh_token=${c.refresh_token!.value}` },
      payload: { code: totp(u.secret, clock.now) },
    })
    expect(reauth.statusCode).toBe(200)
    expect(reauth.json()).toEqual({ token_type: 'Bearer', expires_in: 900 })
    expect(Object.keys(cookiesOf(reauth))).toEqual(['access_token'])
  })

  it('an account without a second factor steps up with its password, and amr stays pwd', async () => {
    const user = await register(t.app)
    const { access_token } = (await login(user.email, user.password)).json()
    clock.now += 3600_000
    const res = await req({ method: 'POST', url: '/auth/reauthenticate', headers: bearer(access_token), payload: { password: user.password } })
    expect(res.statusCode).toBe(200)
    expect(claimsOf(res.json().access_token)).toMatchObject({ amr: ['pwd'], auth_time: seconds(clock.now) })
    const wrong = await req({ method: 'POST', url: '/auth/reauthenticate', headers: bearer(access_token), payload: { password: 'not the password' } })
    expect([wrong.statusCode, wrong.json().error]).toEqual([403, 'invalid_current_password'])
    const code = await req({ method: 'POST', url: '/auth/reauthenticate', headers: bearer(access_token), payload: { code: '123456' } })
    expect([code.statusCode, code.json().error]).toEqual([400, 'invalid_request'])
  })
})

describe('sensitive actions once a second factor is enrolled', () => {
  it('password change, change of address and logout everywhere ask for a recent second factor', async () => {
    const u = await enrolled()
    clock.now += (STEP_UP_MAX_AGE + 1) * 1000
    const asks = [
      { method: 'POST' as const, url: '/auth/password', payload: { current_password: u.password, new_password: 'another long password', refresh_token: u.refresh } },
      { method: 'POST' as const, url: '/auth/email/change', payload: { new_email: `new-${u.email}`, password: u.password } },
      { method: 'POST' as const, url: '/auth/logout?scope=all' },
      { method: 'POST' as const, url: '/auth/logout?scope=others' },
      { method: 'DELETE' as const, url: '/auth/mfa/totp' },
    ]
    for (const a of asks) {
      const res = await req({ ...a, headers: bearer(u.access) })
      expect([a.url, res.statusCode, res.json().error]).toEqual([a.url, 401, 'insufficient_user_authentication'])
      expect(res.headers['www-authenticate']).toContain(`max_age="${STEP_UP_MAX_AGE}"`)
    }
    // Nothing happened: the password is the same, the sessions live.
    expect((await login(u.email, u.password)).json().error).toBe('mfa_required')
    expect((await refreshJson(t.app, u.refresh)).statusCode).toBe(200)
  })

  it('an account without one keeps its password change as it was', async () => {
    const user = await register(t.app)
    const { access_token, refresh_token } = (await login(user.email, user.password)).json()
    clock.now += 7 * 86400_000
    const res = await req({ method: 'POST', url: '/auth/password', headers: bearer(access_token), payload: { current_password: user.password, new_password: 'another long password', refresh_token } })
    expect(res.statusCode).toBe(200)
  })
})

describe('disabling', () => {
  it('needs a recent second factor, mails a notice, and logins stop asking for a code', async () => {
    const u = await enrolled()
    clock.now += (STEP_UP_MAX_AGE + 1) * 1000
    const disable = (token: string) => req({ method: 'DELETE', url: '/auth/mfa/totp', headers: bearer(token) })
    expect((await disable(u.access)).statusCode).toBe(401)
    const { access_token } = (await req({ method: 'POST', url: '/auth/reauthenticate', headers: bearer(u.access), payload: { code: totp(u.secret, clock.now) } })).json()
    expect((await disable(access_token)).statusCode).toBe(204)
    const mail = await smtp.next(u.email, /authenticator app was removed/)
    expect(mail.text).toContain('no longer log you in')
    const rows = await adminQuery('SELECT (SELECT count(*) FROM auth.totp_factors WHERE user_id = $1)::int AS totp, (SELECT count(*) FROM auth.recovery_codes WHERE user_id = $1)::int AS codes', [u.id], t.databaseUrl)
    expect(rows[0]).toEqual({ totp: 0, codes: 0 })
    const res = await login(u.email, u.password)
    expect(res.statusCode).toBe(200)
    expect(claimsOf(res.json().access_token).amr).toEqual(['pwd'])
    expect((await disable(access_token)).json().error).toBe('mfa_not_enabled')
  })
})
