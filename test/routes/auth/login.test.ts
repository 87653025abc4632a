import { createHash } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildTestApp, type TestApp } from '../../helpers/app.js'
import { adminQuery } from '../../helpers/database.js'
import { COOKIE, cookiesOf, register } from '../../helpers/flows.js'

let t: TestApp
beforeAll(async () => {
  t = await buildTestApp()
})
afterAll(() => t.close())

const login = (payload: object, headers: Record<string, string> = {}) =>
  t.app.inject({ method: 'POST', url: '/auth/login', payload, headers: { 'user-agent': 'vitest-agent', ...headers } })

function decodeJwt(token: string) {
  const [h, p] = token.split('.')
  return {
    header: JSON.parse(Buffer.from(h!, 'base64url').toString()),
    payload: JSON.parse(Buffer.from(p!, 'base64url').toString()),
  }
}

describe('POST /auth/login with Bearer transport', () => {
  it('answers with the RFC 6749 §5.1 token response and no-store', async () => {
    const user = await register(t.app)
    const res = await login({ email: user.email, password: user.password })
    expect(res.statusCode).toBe(200)
    expect(res.headers['cache-control']).toBe('no-store')
    expect(res.headers.pragma).toBe('no-cache')
    const body = res.json()
    expect(body).toEqual({
      access_token: expect.any(String),
      token_type: 'Bearer',
      expires_in: 900,
      refresh_token: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
    })
    // Opaque, not a JWT: no dots, 256 bits of base64url.
    expect(body.refresh_token).not.toContain('.')
  })

  it('issues an access JWT with sub, sid, client_id, iat, exp, iss, aud, jti, amr, auth_time and typ at+jwt, and no email', async () => {
    const user = await register(t.app)
    const before = Math.floor(Date.now() / 1000)
    const body = (await login({ email: user.email, password: user.password })).json()
    const { header, payload } = decodeJwt(body.access_token)
    expect(header).toEqual({ alg: 'EdDSA', typ: 'at+jwt', kid: 'test-key' })
    expect(Object.keys(payload).sort()).toEqual(['amr', 'aud', 'auth_time', 'client_id', 'email_verified', 'exp', 'iat', 'iss', 'jti', 'sid', 'sub'])
    expect(payload.client_id).toBe('web')
    // RFC 8176: a password, and when (RFC 9068 / OpenID's auth_time).
    expect(payload.amr).toEqual(['pwd'])
    expect(payload.auth_time).toBeGreaterThanOrEqual(before)
    expect(payload.auth_time).toBeLessThanOrEqual(payload.iat)
    expect(payload.sub).toBe(user.id)
    expect(payload.exp - payload.iat).toBe(900)
    expect(payload.iss).toBe(t.config.jwt.issuer)
    expect(payload.aud).toBe(t.config.jwt.audience)
  })

  it('starts a token family and stores only the SHA-256 of the refresh token', async () => {
    const user = await register(t.app)
    const body = (await login({ email: user.email, password: user.password })).json()
    const { payload } = decodeJwt(body.access_token)
    const [family] = await adminQuery('SELECT * FROM auth.token_families WHERE id = $1', [payload.sid], t.databaseUrl)
    expect(family).toMatchObject({ user_id: user.id, user_agent: 'vitest-agent', revoked_at: null })
    const tokens = await adminQuery('SELECT * FROM auth.refresh_tokens WHERE family_id = $1', [payload.sid], t.databaseUrl)
    expect(tokens).toHaveLength(1)
    expect(tokens[0]!.token_hash).toBe(createHash('sha256').update(body.refresh_token).digest('hex'))
    // The raw token appears nowhere in either table.
    const dump = JSON.stringify(await adminQuery('SELECT * FROM auth.refresh_tokens', [], t.databaseUrl)) +
      JSON.stringify(await adminQuery('SELECT * FROM auth.token_families', [], t.databaseUrl))
    expect(dump).not.toContain(body.refresh_token)
  })

  it('gives an unknown email and a wrong password the same 401 body', async () => {
    const user = await register(t.app)
    const wrong = await login({ email: user.email, password: 'wrong password!' })
    const unknown = await login({ email: 'nobody-here@example.com', password: 'wrong password!' })
    expect(wrong.statusCode).toBe(401)
    expect(unknown.statusCode).toBe(401)
    expect(unknown.body).toBe(wrong.body)
    expect(wrong.json().error).toBe('invalid_credentials')
  })

  it('treats an invalid email like an unknown one (401, not 400)', async () => {
    const res = await login({ email: 'not-an-email', password: 'whatever123' })
    expect(res.statusCode).toBe(401)
    expect(res.json().error).toBe('invalid_credentials')
  })

  it('logs in with the email typed in another case', async () => {
    const user = await register(t.app)
    const res = await login({ email: ` ${user.email.toUpperCase()} `, password: user.password })
    expect(res.statusCode).toBe(200)
  })

  it('each login starts its own family', async () => {
    const user = await register(t.app)
    const a = decodeJwt((await login({ email: user.email, password: user.password })).json().access_token)
    const b = decodeJwt((await login({ email: user.email, password: user.password })).json().access_token)
    expect(a.payload.sid).not.toBe(b.payload.sid)
  })
})

describe('POST /auth/login with cookie transport', () => {
  it('sets httpOnly cookies, the refresh one scoped to /auth, and puts no token in the body', async () => {
    const user = await register(t.app)
    const res = await login({ email: user.email, password: user.password }, COOKIE)
    expect(res.statusCode).toBe(200)
    expect(res.json()).toEqual({ token_type: 'Bearer', expires_in: 900 })
    expect(res.headers['cache-control']).toBe('no-store')
    const c = cookiesOf(res)
    expect(c.access_token).toMatchObject({ httpOnly: true, sameSite: 'Lax', path: '/', maxAge: 900 })
    expect(c.refresh_token).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/auth' })
    expect(c.refresh_token!.value).toMatch(/^[A-Za-z0-9_-]{43}$/)
    // Development over plain http: no Secure flag, no prefix (browsers would drop them).
    expect(c.access_token!.secure).toBeFalsy()
  })

  it('uses Secure, __Host-/__Secure- prefixed cookies when COOKIE_SECURE is on', async () => {
    const secure = await buildTestApp({ env: { COOKIE_SECURE: 'true' } })
    try {
      const user = await register(secure.app)
      const res = await secure.app.inject({
        method: 'POST',
        url: '/auth/login',
        payload: { email: user.email, password: user.password },
        headers: COOKIE,
      })
      const c = cookiesOf(res)
      expect(c['__Host-access_token']).toMatchObject({ secure: true, httpOnly: true, path: '/' })
      expect(c['__Host-access_token']!.domain).toBeUndefined()
      expect(c['__Secure-refresh_token']).toMatchObject({ secure: true, httpOnly: true, path: '/auth', sameSite: 'Strict' })
    } finally {
      await secure.close()
    }
  })
})
