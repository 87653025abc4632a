// Control characters in client strings are refused by schema validation: 400 invalid_request
// before any database work and before the failed-login counter. Postgres refuses NUL in text
// (22021), so without this a NUL in an email was a 500 that still counted against the lock.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildTestApp, type TestApp } from '../helpers/app.js'
import { adminQuery } from '../helpers/database.js'
import { bearer, loginBearer, register, uniqueEmail } from '../helpers/flows.js'
import { attemptKey } from '../../src/limits/policy.js'
import { hashRefreshToken } from '../../src/tokens/refresh-token.js'

let t: TestApp
beforeAll(async () => {
  t = await buildTestApp()
})
afterAll(() => t.close())

const IP = '203.0.113.77'
const post = (url: string, payload: object, headers: Record<string, string> = {}) =>
  t.app.inject({ method: 'POST', url, payload, headers, remoteAddress: IP })

function expectInvalidRequest(res: { statusCode: number; body: string; json(): unknown }) {
  expect(res.statusCode, res.body).toBe(400)
  expect(res.json()).toEqual({ error: 'invalid_request', error_description: expect.any(String) })
}

// Where in the address the character sits matters: a trailing newline used to be trimmed
// away and accepted, a DEL passed the address pattern and was stored.
const EMAILS: Array<[string, (local: string) => string]> = [
  ['NUL', (local) => `${local}\u0000x@example.com`],
  ['tab', (local) => `${local}\tx@example.com`],
  ['newline', (local) => `${local}@example.com\n`],
  ['carriage return', (local) => `\r${local}@example.com`],
  ['escape', (local) => `${local}\u001bx@example.com`],
  ['DEL', (local) => `${local}\u007fx@example.com`],
]

describe.each(EMAILS)('an email with a %s', (_name, withChar) => {
  const local = () => uniqueEmail().split('@')[0]!

  it('register → 400 invalid_request, no user row', async () => {
    const l = local()
    const email = withChar(l)
    const res = await post('/auth/register', { email, password: 'correct horse battery' })
    expectInvalidRequest(res)
    const rows = await adminQuery(`SELECT email FROM auth.users WHERE email LIKE $1`, [`${l}%`], t.databaseUrl)
    expect(rows).toEqual([])
  })

  it('login → 400 invalid_request, no failed-login counter row', async () => {
    const email = withChar(local())
    const res = await post('/auth/login', { email, password: 'correct horse battery' })
    expectInvalidRequest(res)
    const rows = await adminQuery('SELECT 1 FROM auth.login_attempts WHERE key = $1', [attemptKey(email, IP)], t.databaseUrl)
    expect(rows).toEqual([])
  })

  it('login naming a registered account (the character inside its address) → 400, its counter untouched', async () => {
    const user = await register(t.app)
    const [l, domain] = user.email.split('@')
    const email = withChar(l!).replace('@example.com', `@${domain}`)
    expectInvalidRequest(await post('/auth/login', { email, password: user.password }))
    for (const key of [attemptKey(email, IP), attemptKey(user.email, IP)]) {
      expect(await adminQuery('SELECT 1 FROM auth.login_attempts WHERE key = $1', [key], t.databaseUrl)).toEqual([])
    }
  })
})

describe('passwords', () => {
  it('a NUL anywhere in a password → 400 on register and login, nothing written', async () => {
    const email = uniqueEmail()
    expectInvalidRequest(await post('/auth/register', { email, password: 'correct\u0000horse' }))
    expect(await adminQuery('SELECT 1 FROM auth.users WHERE email = $1', [email], t.databaseUrl)).toEqual([])
    const user = await register(t.app)
    expectInvalidRequest(await post('/auth/login', { email: user.email, password: `${user.password}\u0000` }))
    expect(await adminQuery('SELECT 1 FROM auth.login_attempts WHERE key = $1', [attemptKey(user.email, IP)], t.databaseUrl)).toEqual([])
  })

  it('any other control character is part of the password (tab, newline, ESC, DEL)', async () => {
    const password = 'tab\there\nnewline\u001besc\u007fdel'
    const email = uniqueEmail()
    expect((await post('/auth/register', { email, password })).statusCode).toBe(202)
    expect((await post('/auth/login', { email, password })).statusCode).toBe(200)
    expect((await post('/auth/login', { email, password: password.replace('\t', ' ') })).statusCode).toBe(401)
  })

  it('a NUL in the current or new password of a password change → 400, nothing changed', async () => {
    const s = await loginBearer(t.app)
    const user = await adminQuery<{ password_hash: string }>('SELECT password_hash FROM auth.users WHERE email = $1', [s.email], t.databaseUrl)
    for (const body of [
      { current_password: 'correct horse battery\u0000', new_password: 'another good password', refresh_token: s.refreshToken },
      { current_password: 'correct horse battery', new_password: 'another\u0000password', refresh_token: s.refreshToken },
    ]) {
      expectInvalidRequest(await post('/auth/password', body, bearer(s.accessToken)))
    }
    expect(await adminQuery('SELECT password_hash FROM auth.users WHERE email = $1', [s.email], t.databaseUrl)).toEqual(user)
    const [token] = await adminQuery('SELECT spent_at FROM auth.refresh_tokens WHERE token_hash = $1', [hashRefreshToken(s.refreshToken)], t.databaseUrl)
    expect(token).toEqual({ spent_at: null })
  })
})

describe('NUL in any other request string', () => {
  it('refresh: a NUL in the JSON or form refresh token, grant_type or scope → 400 invalid_request', async () => {
    const s = await loginBearer(t.app)
    expectInvalidRequest(await post('/auth/refresh', { refresh_token: `${s.refreshToken}\u0000` }))
    const form = (fields: Record<string, string>) =>
      t.app.inject({
        method: 'POST',
        url: '/auth/refresh',
        payload: new URLSearchParams(fields).toString(),
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      })
    expectInvalidRequest(await form({ grant_type: 'refresh_token', refresh_token: `\u0000${s.refreshToken}` }))
    expectInvalidRequest(await form({ grant_type: 'refresh_token\u0000', refresh_token: s.refreshToken }))
    expectInvalidRequest(await form({ grant_type: 'refresh_token', refresh_token: s.refreshToken, scope: 'a\u0000b' }))
    // the real token is untouched and still works
    expect((await post('/auth/refresh', { refresh_token: s.refreshToken })).statusCode).toBe(200)
  })

  it('logout: a NUL in the refresh token → 400, the session lives', async () => {
    const s = await loginBearer(t.app)
    expectInvalidRequest(await post('/auth/logout', { refresh_token: `${s.refreshToken}\u0000` }))
    expect((await t.app.inject({ url: '/auth/me', headers: bearer(s.accessToken) })).statusCode).toBe(200)
  })

  it('session events: a NUL in the cursor → 400', async () => {
    const s = await loginBearer(t.app)
    const res = await t.app.inject({ url: `/auth/sessions/events?cursor=${encodeURIComponent('abc\u0000')}`, headers: bearer(s.accessToken) })
    expectInvalidRequest(res)
  })
})

it('the description says what is wrong, in words', async () => {
  const res = await post('/auth/register', { email: `${uniqueEmail()}\n`, password: 'correct horse battery' })
  expect(res.json().error_description).toBe('body/email must not contain control characters')
  const pw = await post('/auth/login', { email: uniqueEmail(), password: 'pass\u0000word' })
  expect(pw.json().error_description).toBe('body/password must not contain NUL characters')
})
