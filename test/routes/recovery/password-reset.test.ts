// Password reset by mail, end to end over real SMTP: the app mails the test's SMTP server, the
// test takes the link or code from the message and completes the reset over HTTP.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildTestApp, type TestApp } from '../../helpers/app.js'
import { adminQuery } from '../../helpers/database.js'
import { bearer, loginBearer, register, uniqueEmail } from '../../helpers/flows.js'
import { startSmtp, type SmtpSink } from '../../helpers/smtp.js'

let smtp: SmtpSink
let t: TestApp
beforeAll(async () => {
  smtp = await startSmtp()
  t = await buildTestApp({ env: { SMTP_URL: smtp.url, MAIL_FROM: 'Auth Test <auth@example.com>', MAIL_PRODUCT_NAME: 'Test Product' } })
})
afterAll(async () => {
  await t?.close()
  await smtp?.close()
})

const NEW_PASSWORD = 'a brand new passphrase'
const forgot = (email: string) => t.app.inject({ method: 'POST', url: '/auth/password/forgot', payload: { email } })
const reset = (payload: object) => t.app.inject({ method: 'POST', url: '/auth/password/reset', payload })
const login = (email: string, password: string) => t.app.inject({ method: 'POST', url: '/auth/login', payload: { email, password } })
const INVALID = { error: 'invalid_email_token', error_description: 'The link or code is invalid, expired or already used; ask for a new one.' }

/** a registered account, its verification mail already taken off the queue */
async function account() {
  const user = await register(t.app)
  await smtp.next(user.email, /confirm your email/)
  return user
}

async function resetMail(email: string) {
  expect((await forgot(email)).statusCode).toBe(202)
  return smtp.next(email, /reset your password/)
}

describe('POST /auth/password/forgot and /auth/password/reset', () => {
  it('mails a link and a code; the link sets the password, logs every session out and tells the owner', async () => {
    const user = await account()
    const live = await loginBearer(t.app, user.email, user.password)
    const res = await forgot(user.email.toUpperCase())
    expect(res.statusCode).toBe(202)
    expect(res.json()).toEqual({ status: 'accepted' })

    const mail = await smtp.next(user.email, /reset your password/)
    expect(mail.from).toBe('"Auth Test" <auth@example.com>')
    expect(mail.subject).toBe('Test Product: reset your password')
    expect(mail.text).toContain('Requested from 127.0.0.1 at ')
    expect(mail.html).toContain('Test Product')
    // The link goes to the configured page (the demo page by default), the token in `token`.
    expect(mail.link).toMatch(/^http:\/\/localhost:\d+\/reset-password\?token=[A-Za-z0-9_-]{43}$/)
    expect(mail.code).toMatch(/^\d{6}$/)

    const done = await reset({ token: mail.token, new_password: NEW_PASSWORD })
    expect(done.statusCode, done.body).toBe(204)
    expect((await login(user.email, user.password)).statusCode).toBe(401)
    expect((await login(user.email, NEW_PASSWORD)).statusCode).toBe(200)
    // The session that was live is over: its access token at once, its refresh token for good.
    expect((await t.app.inject({ url: '/auth/me', headers: bearer(live.accessToken) })).json().error).toBe('session_revoked')
    expect((await t.app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: live.refreshToken } })).json().error).toBe('session_revoked')
    const [family] = await adminQuery<{ revoked_reason: string }>(
      'SELECT revoked_reason FROM auth.token_families f JOIN auth.users u ON u.id = f.user_id WHERE u.email = $1 ORDER BY f.created_at LIMIT 1',
      [user.email],
      t.databaseUrl,
    )
    expect(family!.revoked_reason).toBe('password_reset')

    const notice = await smtp.next(user.email, /your password was reset/)
    expect(notice.text).toContain('every session of the account was logged out')
    expect(notice.token).toBeNull()
    // The audit trail has it, and the mail reached the address: it is verified now.
    const events = await adminQuery<{ type: string; reason: string | null }>(
      'SELECT type, reason FROM auth.audit_events e JOIN auth.users u ON u.id = e.user_id WHERE u.email = $1',
      [user.email],
      t.databaseUrl,
    )
    expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(['password_reset', 'family_revoked']))
    const fresh = await loginBearer(t.app, user.email, NEW_PASSWORD)
    expect((await t.app.inject({ url: '/auth/me', headers: bearer(fresh.accessToken) })).json().email_verified).toBe(true)
  })

  it('the code, with the address, does the same', async () => {
    const user = await account()
    const mail = await resetMail(user.email)
    expect((await reset({ email: ` ${user.email.toUpperCase()}`, code: mail.code, new_password: NEW_PASSWORD })).statusCode).toBe(204)
    expect((await login(user.email, NEW_PASSWORD)).statusCode).toBe(200)
  })

  it('a link or code works once', async () => {
    const user = await account()
    const mail = await resetMail(user.email)
    expect((await reset({ token: mail.token, new_password: NEW_PASSWORD })).statusCode).toBe(204)
    const again = await reset({ token: mail.token, new_password: 'yet another passphrase' })
    expect(again.statusCode).toBe(400)
    expect(again.json()).toEqual(INVALID)
    expect((await reset({ email: user.email, code: mail.code, new_password: 'yet another passphrase' })).json()).toEqual(INVALID)
    expect((await login(user.email, NEW_PASSWORD)).statusCode).toBe(200)
  })

  it('an expired link or code is refused', async () => {
    const user = await account()
    const mail = await resetMail(user.email)
    await adminQuery(`UPDATE auth.email_tokens SET expires_at = now() - interval '1 second' WHERE email = $1`, [user.email], t.databaseUrl)
    expect((await reset({ token: mail.token, new_password: NEW_PASSWORD })).json()).toEqual(INVALID)
    expect((await reset({ email: user.email, code: mail.code, new_password: NEW_PASSWORD })).json()).toEqual(INVALID)
    expect((await login(user.email, user.password)).statusCode).toBe(200)
  })

  it('expires after PASSWORD_RESET_TTL_SEC (30 minutes by default)', async () => {
    const user = await account()
    await resetMail(user.email)
    const [row] = await adminQuery<{ ttl: number }>(
      `SELECT extract(epoch FROM expires_at - created_at)::int AS ttl FROM auth.email_tokens WHERE email = $1 AND purpose = 'reset_password'`,
      [user.email],
      t.databaseUrl,
    )
    expect(row!.ttl).toBe(1800)
  })

  it('a wrong code is refused and costs a guess; after five the code and the link are dead', async () => {
    const user = await account()
    const mail = await resetMail(user.email)
    const wrong = mail.code === '000000' ? '000001' : '000000'
    // Five at once: the guesses are counted before they are checked, so none slips through.
    const guesses = await Promise.all(Array.from({ length: 5 }, () => reset({ email: user.email, code: wrong, new_password: NEW_PASSWORD })))
    for (const g of guesses) expect(g.json()).toEqual(INVALID)
    expect((await reset({ email: user.email, code: mail.code, new_password: NEW_PASSWORD })).json()).toEqual(INVALID)
    expect((await reset({ token: mail.token, new_password: NEW_PASSWORD })).json()).toEqual(INVALID)
    expect((await login(user.email, user.password)).statusCode).toBe(200)
  })

  it('four wrong guesses leave the right code working', async () => {
    const user = await account()
    const mail = await resetMail(user.email)
    const wrong = mail.code === '000000' ? '000001' : '000000'
    for (let i = 0; i < 4; i++) expect((await reset({ email: user.email, code: wrong, new_password: NEW_PASSWORD })).json()).toEqual(INVALID)
    expect((await reset({ email: user.email, code: mail.code, new_password: NEW_PASSWORD })).statusCode).toBe(204)
  })

  it('a newer request replaces the older one', async () => {
    const user = await account()
    const first = await resetMail(user.email)
    const second = await resetMail(user.email)
    expect(second.token).not.toBe(first.token)
    expect((await reset({ token: first.token, new_password: NEW_PASSWORD })).json()).toEqual(INVALID)
    expect((await reset({ email: user.email, code: first.code, new_password: NEW_PASSWORD })).json()).toEqual(INVALID)
    expect((await reset({ token: second.token, new_password: NEW_PASSWORD })).statusCode).toBe(204)
  })

  it('stores neither the token nor the code, only hashes', async () => {
    const user = await account()
    const mail = await resetMail(user.email)
    const rows = await adminQuery<Record<string, unknown>>(`SELECT * FROM auth.email_tokens WHERE email = $1 AND purpose = 'reset_password'`, [user.email], t.databaseUrl)
    const stored = JSON.stringify(rows)
    expect(rows).toHaveLength(1)
    expect(stored).not.toContain(mail.token!)
    expect(stored).not.toContain(mail.code!)
    expect(rows[0]!.token_hash).toMatch(/^[0-9a-f]{64}$/)
  })

  it('bad input is a 400 with a stable code, never a 500', async () => {
    const user = await account()
    for (const payload of [
      { new_password: NEW_PASSWORD },
      { token: 'x', email: user.email, code: '123456', new_password: NEW_PASSWORD },
      { email: user.email, new_password: NEW_PASSWORD },
      { code: '123456', new_password: NEW_PASSWORD },
      { token: 'not a token!', new_password: NEW_PASSWORD },
      { email: user.email, code: '12345', new_password: NEW_PASSWORD },
      { token: 'abc', new_password: 'short' },
      { token: 'abc\u0000', new_password: NEW_PASSWORD },
    ]) {
      const res = await reset(payload)
      expect(res.statusCode, JSON.stringify(payload)).toBe(400)
      expect(res.json().error, JSON.stringify(payload)).toBe('invalid_request')
    }
    expect((await reset({ token: 'A'.repeat(43), new_password: NEW_PASSWORD })).json()).toEqual(INVALID)
    expect((await reset({ email: 'nobody@example.com', code: '123456', new_password: NEW_PASSWORD })).json()).toEqual(INVALID)
    expect((await forgot('not-an-email')).json().error).toBe('invalid_email')
  })

  it('limits forgot per address, alike for an address with and without an account', async () => {
    const user = await account()
    const nobody = uniqueEmail()
    // Registering mailed the address once: it counts toward the same budget of 5.
    await t.app.inject({ method: 'POST', url: '/auth/register', payload: { email: nobody, password: 'another passphrase' } })
    await adminQuery('DELETE FROM auth.users WHERE email = $1', [nobody], t.databaseUrl)
    for (const email of [user.email, nobody]) {
      for (let i = 0; i < 4; i++) expect((await forgot(email)).statusCode, `${email === nobody ? 'no account' : 'account'}, request ${i + 1}`).toBe(202)
      const limited = await forgot(email)
      expect(limited.statusCode).toBe(429)
      expect(limited.json().error).toBe('too_many_requests')
      expect(Number(limited.headers['retry-after'])).toBeGreaterThan(3000)
    }
  })
})

describe('an address with no account', () => {
  it('answers exactly as for one with an account, and mails nothing', async () => {
    const local = await startSmtp()
    const app = await buildTestApp({ env: { SMTP_URL: local.url } })
    const known = await register(app.app)
    const nobody = uniqueEmail()
    const answers = []
    for (const email of [nobody, known.email]) {
      const res = await app.app.inject({ method: 'POST', url: '/auth/password/forgot', payload: { email } })
      answers.push({ status: res.statusCode, body: res.body, headers: { ...res.headers, date: undefined } })
    }
    expect(answers[0]).toEqual(answers[1])
    // Closing waits for the lookups after the answers and sends what they queued.
    await app.close()
    await local.close()
    expect(local.mails.map((m) => [m.to, m.subject])).toEqual([
      [known.email, 'fastify-auth-service: confirm your email address'],
      [known.email, 'fastify-auth-service: reset your password'],
    ])
  })
})

describe('PASSWORD_RESET_LOGS_IN=true', () => {
  it('answers with a new session, in the caller\'s transport', async () => {
    const local = await startSmtp()
    const app = await buildTestApp({ env: { SMTP_URL: local.url, PASSWORD_RESET_LOGS_IN: 'true' } })
    try {
      const user = await register(app.app)
      await app.app.inject({ method: 'POST', url: '/auth/password/forgot', payload: { email: user.email } })
      const mail = await local.next(user.email, /reset your password/)
      const res = await app.app.inject({ method: 'POST', url: '/auth/password/reset', payload: { token: mail.token, new_password: NEW_PASSWORD } })
      expect(res.statusCode).toBe(200)
      const body = res.json()
      expect(body).toMatchObject({ token_type: 'Bearer', access_token: expect.any(String), refresh_token: expect.any(String) })
      const me = await app.app.inject({ url: '/auth/me', headers: bearer(body.access_token) })
      expect(me.json()).toMatchObject({ email_verified: true })
    } finally {
      await app.close()
      await local.close()
    }
  })
})
