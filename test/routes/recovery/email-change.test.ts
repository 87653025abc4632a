// Changing the address over real SMTP: the new address confirms before anything changes, the
// old one is told and can undo the change, which moves the account back, logs every session
// out and mails a reset link.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildTestApp, type TestApp } from '../../helpers/app.js'
import { adminQuery } from '../../helpers/database.js'
import { bearer, loginBearer, register, uniqueEmail } from '../../helpers/flows.js'
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
const post = (url: string, payload: object, headers: Record<string, string> = {}) => t.app.inject({ method: 'POST', url, payload, headers })
const login = (email: string, password = PASSWORD) => post('/auth/login', { email, password })

async function loggedIn() {
  const user = await register(t.app)
  await smtp.next(user.email, /confirm your email address/)
  return { ...user, session: await loginBearer(t.app, user.email, PASSWORD) }
}

describe('POST /auth/email/change', () => {
  it('confirm by link: the account moves only then, verified; the old address is told and can undo', async () => {
    const user = await loggedIn()
    const next = uniqueEmail()
    const asked = await post('/auth/email/change', { new_email: next.toUpperCase(), password: PASSWORD }, bearer(user.session.accessToken))
    expect(asked.statusCode).toBe(202)
    const confirm = await smtp.next(next, /confirm your new email address/)
    expect(confirm.text).toContain(`now ${user.email}`)
    expect(confirm.link).toMatch(/\/confirm-email-change\?token=/)
    // Nothing has changed yet.
    expect((await login(user.email)).statusCode).toBe(200)
    expect((await login(next)).statusCode).toBe(401)

    expect((await post('/auth/email/change/confirm', { token: confirm.token! })).statusCode).toBe(204)
    expect((await login(user.email)).statusCode).toBe(401)
    const moved = await login(next)
    expect(moved.statusCode).toBe(200)
    expect((await t.app.inject({ url: '/auth/me', headers: bearer(moved.json().access_token) })).json()).toMatchObject({ email_verified: true })

    const told = await smtp.next(user.email, /your email address was changed/)
    expect(told.text).toContain(`from ${user.email} to ${next}`)
    expect(told.link).toMatch(/\/undo-email-change\?token=/)
    expect(told.code).toMatch(/^\d{6}$/)

    // The owner of the old address undoes it: the account is back, every session is over, and
    // a reset link arrives, since whoever made the change knew the password.
    const live = moved.json()
    expect((await post('/auth/email/change/undo', { email: user.email, code: told.code! })).statusCode).toBe(204)
    expect((await login(user.email)).statusCode).toBe(200)
    expect((await login(next)).statusCode).toBe(401)
    expect((await t.app.inject({ url: '/auth/me', headers: bearer(live.access_token) })).json().error).toBe('session_revoked')
    const reasons = await adminQuery<{ revoked_reason: string | null }>('SELECT revoked_reason FROM auth.token_families WHERE id = $1', [
      JSON.parse(Buffer.from(live.access_token.split('.')[1], 'base64url').toString()).sid,
    ], t.databaseUrl)
    expect(reasons[0]!.revoked_reason).toBe('email_change_undone')
    const reset = await smtp.next(user.email, /the change of address was undone/)
    expect(reset.link).toMatch(/\/reset-password\?token=/)
    expect((await post('/auth/password/reset', { token: reset.token!, new_password: 'only the owner knows' })).statusCode).toBe(204)
  })

  it('confirm by code, with the new address; the undo works once', async () => {
    const user = await loggedIn()
    const next = uniqueEmail()
    await post('/auth/email/change', { new_email: next, password: PASSWORD }, bearer(user.session.accessToken))
    const confirm = await smtp.next(next, /confirm your new email address/)
    expect((await post('/auth/email/change/confirm', { email: next, code: confirm.code! })).statusCode).toBe(204)
    expect((await post('/auth/email/change/confirm', { email: next, code: confirm.code! })).json().error).toBe('invalid_email_token')
    const told = await smtp.next(user.email, /your email address was changed/)
    expect((await post('/auth/email/change/undo', { token: told.token! })).statusCode).toBe(204)
    expect((await post('/auth/email/change/undo', { token: told.token! })).json().error).toBe('invalid_email_token')
  })

  it('the undo expires: after EMAIL_CHANGE_UNDO_TTL_SEC its link and code move nothing', async () => {
    const user = await loggedIn()
    const next = uniqueEmail()
    await post('/auth/email/change', { new_email: next, password: PASSWORD }, bearer(user.session.accessToken))
    expect((await post('/auth/email/change/confirm', { token: (await smtp.next(next, /confirm your new/)).token! })).statusCode).toBe(204)
    const told = await smtp.next(user.email, /your email address was changed/)
    // The window (7 days by default) has passed: the row's expiry, on the database's clock.
    await adminQuery("UPDATE auth.email_tokens SET expires_at = now() - interval '1 second' WHERE user_id = $1 AND purpose = 'undo_email_change'", [user.id], t.databaseUrl)
    expect((await post('/auth/email/change/undo', { token: told.token! })).json().error).toBe('invalid_email_token')
    expect((await post('/auth/email/change/undo', { email: user.email, code: told.code! })).json().error).toBe('invalid_email_token')
    expect((await login(next)).statusCode).toBe(200)
  })

  it('a second change within the undo window keeps the first undo: the original owner can still go back', async () => {
    const user = await loggedIn()
    const b = uniqueEmail()
    const c = uniqueEmail()
    await post('/auth/email/change', { new_email: b, password: PASSWORD }, bearer(user.session.accessToken))
    await post('/auth/email/change/confirm', { token: (await smtp.next(b, /confirm your new/)).token! })
    const toA = await smtp.next(user.email, /your email address was changed/)
    const atB = await loginBearer(t.app, b, PASSWORD)
    await post('/auth/email/change', { new_email: c, password: PASSWORD }, bearer(atB.accessToken))
    await post('/auth/email/change/confirm', { token: (await smtp.next(c, /confirm your new/)).token! })
    const toB = await smtp.next(b, /your email address was changed/)
    expect(toB.link).toBeNull()
    expect(toB.text).toContain('no longer undo')
    expect((await post('/auth/email/change/undo', { token: toA.token! })).statusCode).toBe(204)
    expect((await login(user.email)).statusCode).toBe(200)
  })

  it('wrong password: 403 and nothing mailed; the same address: 400; bad input: 400', async () => {
    const user = await loggedIn()
    const next = uniqueEmail()
    const wrong = await post('/auth/email/change', { new_email: next, password: 'not the password' }, bearer(user.session.accessToken))
    expect(wrong.statusCode).toBe(403)
    expect(wrong.json().error).toBe('invalid_current_password')
    expect((await post('/auth/email/change', { new_email: user.email, password: PASSWORD }, bearer(user.session.accessToken))).json().error).toBe('invalid_request')
    expect((await post('/auth/email/change', { new_email: 'nope', password: PASSWORD }, bearer(user.session.accessToken))).json().error).toBe('invalid_email')
    expect((await post('/auth/email/change', { new_email: next, password: PASSWORD })).statusCode).toBe(401)
    expect((await post('/auth/email/change/confirm', { token: 'A'.repeat(43) })).json().error).toBe('invalid_email_token')
    expect((await post('/auth/email/change/confirm', {})).json().error).toBe('invalid_request')
    expect(smtp.to(next)).toEqual([])
  })

  it('an address that already has an account: its owner is told, nothing changes', async () => {
    const user = await loggedIn()
    const other = await loggedIn()
    expect((await post('/auth/email/change', { new_email: other.email, password: PASSWORD }, bearer(user.session.accessToken))).statusCode).toBe(202)
    const notice = await smtp.next(other.email, /already has an account/)
    expect(notice.token).toBeNull()
    expect((await login(user.email)).statusCode).toBe(200)
  })

  // The change was asked for with the password; once the password is another, what it mailed
  // must not move the account (whoever asked may have been the one the change locked out).
  it('the password changed between the request and the confirmation: the link and the code move nothing', async () => {
    const user = await loggedIn()
    const next = uniqueEmail()
    expect((await post('/auth/email/change', { new_email: next, password: PASSWORD }, bearer(user.session.accessToken))).statusCode).toBe(202)
    const confirm = await smtp.next(next, /confirm your new email address/)
    const changed = await post('/auth/password', { current_password: PASSWORD, new_password: 'a new password entirely', refresh_token: user.session.refreshToken }, bearer(user.session.accessToken))
    expect(changed.statusCode).toBe(200)
    expect((await post('/auth/email/change/confirm', { token: confirm.token! })).json().error).toBe('invalid_email_token')
    expect((await post('/auth/email/change/confirm', { email: next, code: confirm.code! })).json().error).toBe('invalid_email_token')
    const [row] = await adminQuery<{ email: string }>('SELECT email FROM auth.users WHERE id = $1', [user.id], t.databaseUrl)
    expect(row!.email).toBe(user.email)
    expect(smtp.to(user.email).filter((m) => /your email address was changed/.test(m.subject))).toEqual([])
  })

  it('taken between the request and the confirmation: 409 email_taken, nothing moves', async () => {
    const user = await loggedIn()
    const next = uniqueEmail()
    await post('/auth/email/change', { new_email: next, password: PASSWORD }, bearer(user.session.accessToken))
    const confirm = await smtp.next(next, /confirm your new email address/)
    await register(t.app, next)
    const res = await post('/auth/email/change/confirm', { token: confirm.token! })
    expect(res.statusCode).toBe(409)
    expect(res.json().error).toBe('email_taken')
    expect((await login(user.email)).statusCode).toBe(200)
  })
})
