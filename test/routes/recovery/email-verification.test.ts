// Email verification over real SMTP: the mail register sends, POST /email/verify by link or
// code, the resend, the access token's email_verified claim (carried through refresh), the
// REQUIRE_VERIFIED_EMAIL gate on login, and authn.require({ emailVerified }) on a host route.
import { randomBytes } from 'node:crypto'
import Fastify, { type FastifyInstance } from 'fastify'
import { generateKeyPairSync } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import auth from '../../../src/index.js'
import { buildTestApp, type TestApp } from '../../helpers/app.js'
import { createTestDatabase } from '../../helpers/database.js'
import { bearer, loginBearer, refreshJson, uniqueEmail } from '../../helpers/flows.js'
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

const PASSWORD = 'correct horse battery'
const INVALID = 'invalid_email_token'
const post = (url: string, payload: object, app = t.app) => app.inject({ method: 'POST', url, payload })
const claimsOf = (accessToken: string) => JSON.parse(Buffer.from(accessToken.split('.')[1]!, 'base64url').toString())

async function registered(app = t.app, sink = smtp) {
  const email = uniqueEmail()
  expect((await post('/auth/register', { email, password: PASSWORD }, app)).statusCode).toBe(202)
  return { email, mail: await sink.next(email, /confirm your email address/) }
}

describe('POST /auth/email/verify', () => {
  it('the link verifies the address; the next refresh carries email_verified: true', async () => {
    const { email, mail } = await registered()
    const s = await loginBearer(t.app, email, PASSWORD)
    expect(claimsOf(s.accessToken).email_verified).toBe(false)
    expect((await post('/auth/email/verify', { token: mail.token! })).statusCode).toBe(204)
    const refreshed = (await refreshJson(t.app, s.refreshToken)).json()
    expect(claimsOf(refreshed.access_token).email_verified).toBe(true)
    expect((await t.app.inject({ url: '/auth/me', headers: bearer(refreshed.access_token) })).json().email_verified).toBe(true)
    expect(claimsOf((await loginBearer(t.app, email, PASSWORD)).accessToken).email_verified).toBe(true)
  })

  it('the code, with the address, verifies it too; either works once', async () => {
    const { email, mail } = await registered()
    expect((await post('/auth/email/verify', { email, code: mail.code! })).statusCode).toBe(204)
    expect((await post('/auth/email/verify', { email, code: mail.code! })).json().error).toBe(INVALID)
    expect((await post('/auth/email/verify', { token: mail.token! })).json().error).toBe(INVALID)
  })

  it('a wrong, expired or guessed-out code is refused', async () => {
    const { email, mail } = await registered()
    const wrong = mail.code === '999999' ? '999998' : '999999'
    for (let i = 0; i < 5; i++) expect((await post('/auth/email/verify', { email, code: wrong })).json().error).toBe(INVALID)
    expect((await post('/auth/email/verify', { email, code: mail.code! })).json().error).toBe(INVALID)

    const other = await registered()
    const { adminQuery } = await import('../../helpers/database.js')
    await adminQuery(`UPDATE auth.email_tokens SET expires_at = now() - interval '1 second' WHERE email = $1`, [other.email], t.databaseUrl)
    expect((await post('/auth/email/verify', { token: other.mail.token! })).json().error).toBe(INVALID)
  })

  it('a reset token does not verify, nor a verification token reset', async () => {
    const { email, mail } = await registered()
    expect((await post('/auth/password/reset', { token: mail.token!, new_password: 'some new password' })).json().error).toBe(INVALID)
    await post('/auth/password/forgot', { email })
    const reset = await smtp.next(email, /reset your password/)
    expect((await post('/auth/email/verify', { token: reset.token! })).json().error).toBe(INVALID)
  })
})

describe('POST /auth/email/verify/resend', () => {
  it('sends a new link and code that replace the old ones; the same 202 for any address', async () => {
    const { email, mail } = await registered()
    const known = await post('/auth/email/verify/resend', { email })
    const unknown = await post('/auth/email/verify/resend', { email: uniqueEmail() })
    expect(known.statusCode).toBe(202)
    expect({ status: unknown.statusCode, body: unknown.body }).toEqual({ status: known.statusCode, body: known.body })
    const again = await smtp.next(email, /confirm your email address/)
    expect((await post('/auth/email/verify', { token: mail.token! })).json().error).toBe(INVALID)
    expect((await post('/auth/email/verify', { token: again.token! })).statusCode).toBe(204)
  })

  it('is limited per address, alike for an address with and without an account', async () => {
    const local = await startSmtp()
    const app = await buildTestApp({ env: { SMTP_URL: local.url, RATE_LIMIT_MAIL_PER_ADDRESS: '3' } })
    try {
      const { email } = await registered(app.app, local) // register's mail is the first of 3
      const nobody = uniqueEmail()
      const resend = (address: string) => post('/auth/email/verify/resend', { email: address }, app.app)
      expect([(await resend(email)).statusCode, (await resend(email)).statusCode]).toEqual([202, 202])
      for (let i = 0; i < 3; i++) expect((await resend(nobody)).statusCode).toBe(202)
      for (const address of [email, nobody]) {
        const limited = await resend(address)
        expect([limited.statusCode, limited.json().error]).toEqual([429, 'too_many_requests'])
        expect(Number(limited.headers['retry-after'])).toBeGreaterThan(3000)
      }
    } finally {
      await app.close()
      await local.close()
    }
  })

  it('mails nothing to a verified address', async () => {
    const local = await startSmtp()
    const app = await buildTestApp({ env: { SMTP_URL: local.url } })
    const { email, mail } = await registered(app.app, local)
    expect((await post('/auth/email/verify', { token: mail.token! }, app.app)).statusCode).toBe(204)
    expect((await post('/auth/email/verify/resend', { email }, app.app)).statusCode).toBe(202)
    await app.close() // waits for the lookup after the answer and its mail, if any
    await local.close()
    expect(local.to(email).map((m) => m.subject)).toEqual(['fastify-auth-service: confirm your email address'])
  })
})

describe('REQUIRE_VERIFIED_EMAIL=true', () => {
  it('refuses login with 403 email_not_verified after the right password only, until the address is verified', async () => {
    const local = await startSmtp()
    const app = await buildTestApp({ env: { SMTP_URL: local.url, REQUIRE_VERIFIED_EMAIL: 'true' } })
    try {
      const { email, mail } = await registered(app.app, local)
      const login = (password: string) => post('/auth/login', { email, password }, app.app)
      const refused = await login(PASSWORD)
      expect(refused.statusCode).toBe(403)
      expect(refused.json().error).toBe('email_not_verified')
      expect((await login('not the password')).json().error).toBe('invalid_credentials')
      expect((await post('/auth/email/verify', { email, code: mail.code! }, app.app)).statusCode).toBe(204)
      const ok = await login(PASSWORD)
      expect(ok.statusCode).toBe(200)
      expect(claimsOf(ok.json().access_token).email_verified).toBe(true)
    } finally {
      await app.close()
      await local.close()
    }
  })

  it('is refused without verification itself', async () => {
    await expect(buildTestApp({ env: { REQUIRE_VERIFIED_EMAIL: 'true', EMAIL_VERIFICATION: 'false' } })).rejects.toThrow(/REQUIRE_VERIFIED_EMAIL needs EMAIL_VERIFICATION/)
  })
})

describe('authn.require({ emailVerified: true }) on a host route', () => {
  let host: FastifyInstance
  let drop: () => Promise<void>
  beforeAll(async () => {
    const db = await createTestDatabase()
    drop = db.drop
    host = Fastify()
    await host.register(auth, {
      prefix: '/auth',
      production: false,
      database: db.url,
      keys: { signing: { kid: 'k', privateKey: generateKeyPairSync('ed25519').privateKey }, refreshTokenSecret: randomBytes(32) },
      passwords: { memoryKiB: 1024, timeCost: 1 },
      mail: { transport: smtp.url, from: 'host@example.com', productName: 'Host' },
    })
    host.get('/verified-only', { preHandler: host.authn.require({ emailVerified: true }) }, async (req) => ({ sub: req.authn!.sub }))
    host.get('/anyone', { preHandler: [host.authn.authenticate, host.authn.require({ emailVerified: false })] }, async () => ({ ok: true }))
    await host.ready()
  })
  afterAll(async () => {
    await host?.close()
    await drop?.()
  })

  it('403 email_not_verified until the address is verified; 401 without a token', async () => {
    const { email, mail } = await registered(host)
    expect(mail.subject).toBe('Host: confirm your email address')
    expect(mail.link).toBeNull() // no page configured: the mail carries the code only
    const s = await loginBearer(host, email, PASSWORD)
    expect((await host.inject({ url: '/verified-only' })).statusCode).toBe(401)
    const refused = await host.inject({ url: '/verified-only', headers: bearer(s.accessToken) })
    expect(refused.statusCode).toBe(403)
    // A host route answers in the host's error shape (Fastify's default here), with our code.
    expect(refused.json()).toMatchObject({ statusCode: 403, code: 'email_not_verified' })
    expect((await host.inject({ url: '/anyone', headers: bearer(s.accessToken) })).statusCode).toBe(200)
    expect((await post('/auth/email/verify', { email, code: mail.code! }, host)).statusCode).toBe(204)
    const fresh = (await refreshJson(host, s.refreshToken)).json()
    expect((await host.inject({ url: '/verified-only', headers: bearer(fresh.access_token) })).statusCode).toBe(200)
  })

  it('refuses an unknown requirement when the route is declared', () => {
    expect(() => host.authn.require({ emailVerifed: true } as never)).toThrow(/unknown requirement "emailVerifed"/)
  })
})
