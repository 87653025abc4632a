import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildTestApp, type TestApp } from '../../helpers/app.js'
import { adminQuery } from '../../helpers/database.js'
import { uniqueEmail } from '../../helpers/flows.js'

let t: TestApp
beforeAll(async () => {
  t = await buildTestApp()
})
afterAll(() => t.close())

const post = (payload: unknown) => t.app.inject({ method: 'POST', url: '/auth/register', payload: payload as object })

describe('POST /auth/register', () => {
  it('creates an account with a trimmed, lower-cased email', async () => {
    const local = uniqueEmail()
    const res = await post({ email: `  ${local.toUpperCase()} `, password: 'correct horse battery' })
    expect(res.statusCode).toBe(201)
    expect(res.json()).toEqual({ id: expect.any(String), email: local })
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

  it('refuses a second account for the same email however it is typed (409)', async () => {
    const email = uniqueEmail()
    expect((await post({ email, password: 'correct horse battery' })).statusCode).toBe(201)
    const again = await post({ email: ` ${email.toUpperCase()}`, password: 'another password' })
    expect(again.statusCode).toBe(409)
    expect(again.json()).toEqual({ error: 'email_taken', error_description: expect.any(String) })
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
      expect((await post({ email, password: registered })).statusCode).toBe(201)
      const login = await t.app.inject({ method: 'POST', url: '/auth/login', payload: { email, password: typed } })
      expect(login.statusCode).toBe(200)
    }
  })

  it('accepts passwords of 8 and 1024 characters and rejects 7 and 1025', async () => {
    expect((await post({ email: uniqueEmail(), password: 'x'.repeat(8) })).statusCode).toBe(201)
    expect((await post({ email: uniqueEmail(), password: 'x'.repeat(1024) })).statusCode).toBe(201)
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
