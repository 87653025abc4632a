import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildTestApp, type TestApp } from '../../helpers/app.js'
import { adminQuery } from '../../helpers/database.js'
import { uniqueEmail } from '../../helpers/flows.js'
import { startSmtp, type SmtpSink } from '../../helpers/smtp.js'

let smtp: SmtpSink
let t: TestApp
beforeAll(async () => {
  smtp = await startSmtp()
  t = await buildTestApp({ env: { SMTP_URL: smtp.url } })
})
afterAll(async () => {
  await t?.close()
  await smtp?.close()
})

const post = (payload: unknown, app = t.app) => app.inject({ method: 'POST', url: '/auth/register', payload: payload as object })

describe('POST /auth/register', () => {
  it('creates an account with a trimmed, lower-cased email: 202 and a verification mail', async () => {
    const local = uniqueEmail()
    const res = await post({ email: `  ${local.toUpperCase()} `, password: 'correct horse battery' })
    expect(res.statusCode).toBe(202)
    expect(res.json()).toEqual({ email: local })
    const [row] = await adminQuery<{ email: string; email_verified_at: Date | null }>('SELECT email, email_verified_at FROM auth.users WHERE email = $1', [local], t.databaseUrl)
    expect(row).toEqual({ email: local, email_verified_at: null })
    const mail = await smtp.next(local, /confirm your email address/)
    expect(mail.link).toMatch(/\/verify-email\?token=/)
    expect(mail.code).toMatch(/^\d{6}$/)
  })

  it('stores only an argon2id hash with the configured parameters', async () => {
    const email = uniqueEmail()
    await post({ email, password: 'correct horse battery' })
    const [row] = await adminQuery<{ password_hash: string }>(
      'SELECT password_hash FROM auth.users WHERE email = $1',
      [email],
      t.databaseUrl,
    )
    expect(row!.password_hash).toMatch(/^\$argon2id\$v=19\$m=1024,t=1,p=1\$/)
    expect(row!.password_hash).not.toContain('correct horse battery')
  })

  it('answers a taken address exactly as a new one, changes nothing, and tells the owner with a reset link', async () => {
    const email = uniqueEmail()
    const first = await post({ email, password: 'correct horse battery' })
    await smtp.next(email, /confirm your email address/)
    const again = await post({ email: ` ${email.toUpperCase()}`, password: 'another password' })
    expect({ status: again.statusCode, body: again.body }).toEqual({ status: first.statusCode, body: first.body })
    expect(Object.keys(again.headers).sort()).toEqual(Object.keys(first.headers).sort())
    const users = await adminQuery<{ n: number }>('SELECT count(*)::int AS n FROM auth.users WHERE email = $1', [email], t.databaseUrl)
    expect(users[0]!.n).toBe(1)
    // The first password still works; the second never became one.
    expect((await t.app.inject({ method: 'POST', url: '/auth/login', payload: { email, password: 'correct horse battery' } })).statusCode).toBe(200)
    expect((await t.app.inject({ method: 'POST', url: '/auth/login', payload: { email, password: 'another password' } })).statusCode).toBe(401)

    const notice = await smtp.next(email, /someone tried to register your address/)
    expect(notice.text).toContain('already has one')
    expect(notice.link).toMatch(/\/reset-password\?token=/)
    const reset = await t.app.inject({ method: 'POST', url: '/auth/password/reset', payload: { token: notice.token, new_password: 'the owner chose this' } })
    expect(reset.statusCode).toBe(204)
  })

  it.each([
    ['no at sign', 'not-an-email'],
    ['no domain dot', 'a@b'],
    ['spaces inside', 'a b@example.com'],
    ['two at signs', 'a@b@example.com'],
  ])('rejects an invalid email (%s) with invalid_email', async (_name, email) => {
    const res = await post({ email, password: 'correct horse battery' })
    expect(res.statusCode).toBe(400)
    expect(res.json().error).toBe('invalid_email')
  })

  it('NFC-normalises the password: registered decomposed, logs in composed, and the other way round', async () => {
    const decomposed = 'cafe\u0301 au lait 42' // e + combining acute
    const composed = 'caf\u00e9 au lait 42'
    for (const [registered, typed] of [[decomposed, composed], [composed, decomposed]]) {
      const email = uniqueEmail()
      expect((await post({ email, password: registered })).statusCode).toBe(202)
      const login = await t.app.inject({ method: 'POST', url: '/auth/login', payload: { email, password: typed } })
      expect(login.statusCode).toBe(200)
    }
  })

  it('accepts passwords of 8 and 1024 characters and rejects 7 and 1025', async () => {
    expect((await post({ email: uniqueEmail(), password: 'x'.repeat(8) })).statusCode).toBe(202)
    expect((await post({ email: uniqueEmail(), password: 'x'.repeat(1024) })).statusCode).toBe(202)
    for (const password of ['x'.repeat(7), 'x'.repeat(1025)]) {
      const res = await post({ email: uniqueEmail(), password })
      expect(res.statusCode).toBe(400)
      expect(res.json().error).toBe('invalid_request')
    }
  })

  it.each([
    ['missing password', { email: 'a@example.com' }],
    ['missing email', { password: 'correct horse battery' }],
    ['wrong types', { email: 42, password: ['x'] }],
    ['null body fields', { email: null, password: null }],
  ])('answers %s with 400 invalid_request and no stack', async (_name, payload) => {
    const res = await post(payload)
    expect(res.statusCode).toBe(400)
    expect(Object.keys(res.json()).sort()).toEqual(['error', 'error_description'])
    expect(res.body).not.toMatch(/at .*\.ts:\d+/)
  })
})

describe('EMAIL_VERIFICATION=false', () => {
  it('keeps 201 with the id and 409 email_taken, and mails nothing: the cost is telling who has an account', async () => {
    const local = await startSmtp()
    const off = await buildTestApp({ env: { SMTP_URL: local.url, EMAIL_VERIFICATION: 'false' } })
    try {
      const email = uniqueEmail()
      const created = await post({ email, password: 'correct horse battery' }, off.app)
      expect(created.statusCode).toBe(201)
      expect(created.json()).toEqual({ id: expect.any(String), email })
      const again = await post({ email, password: 'correct horse battery' }, off.app)
      expect(again.statusCode).toBe(409)
      expect(again.json()).toEqual({ error: 'email_taken', error_description: expect.any(String) })
    } finally {
      await off.close()
      await local.close()
    }
    expect(local.mails).toEqual([])
  })
})
