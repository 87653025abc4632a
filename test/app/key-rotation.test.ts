// Rotating the signing key without logging anyone out: instances with the new key also accept
// tokens of the retired one, named in JWT_PREVIOUS_JWKS (a copy of the JWKS published while it
// was current), and publish both. Nothing else signed with or naming that key gets through.
import { createHmac, generateKeyPairSync, randomBytes, randomUUID, sign as cryptoSign, type KeyObject } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildTestApp, type TestApp } from '../helpers/app.js'
import { bearer, loginBearer, refreshJson, register, sidOf } from '../helpers/flows.js'

const pem = (k: KeyObject) => k.export({ type: 'pkcs8', format: 'pem' }).toString()
const oldKey = generateKeyPairSync('ed25519')
const newKey = generateKeyPairSync('ed25519')
const REFRESH_TOKEN_SECRET = randomBytes(32).toString('base64url')

let before: TestApp // the deployment before the switch
let after: TestApp // after it: new key, the old one retired
let forgetful: TestApp // after it, but configured without the retired key
let oldJwks: string

beforeAll(async () => {
  before = await buildTestApp({ env: { JWT_PRIVATE_KEY: pem(oldKey.privateKey), JWT_KEY_ID: 'k-2026-10', REFRESH_TOKEN_SECRET } })
  oldJwks = (await before.app.inject({ url: '/auth/.well-known/jwks.json' })).body
  const newEnv = { JWT_PRIVATE_KEY: pem(newKey.privateKey), JWT_KEY_ID: 'k-2026-11', REFRESH_TOKEN_SECRET }
  after = await buildTestApp({ databaseUrl: before.databaseUrl, env: { ...newEnv, JWT_PREVIOUS_JWKS: oldJwks } })
  forgetful = await buildTestApp({ databaseUrl: before.databaseUrl, env: newEnv })
})
afterAll(async () => {
  await forgetful?.close()
  await after?.close()
  await before?.close()
})

const me = (t: TestApp, token: string) => t.app.inject({ url: '/auth/me', headers: bearer(token) })
const header = (token: string) => JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()) as { kid: string; alg: string }

function claims(overrides: Record<string, unknown> = {}) {
  const now = Math.floor(Date.now() / 1000)
  return { sub: randomUUID(), sid: randomUUID(), email: 'x@example.com', email_verified: false, jti: randomUUID(), iss: 'fastify-auth', aud: 'fastify-auth-api', iat: now, exp: now + 600, ...overrides }
}
function signed(head: Record<string, unknown>, payload: Record<string, unknown>, sign: (input: string) => Buffer) {
  const input = `${Buffer.from(JSON.stringify(head)).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`
  return `${input}.${sign(input).toString('base64url')}`
}
const ed = (key: KeyObject) => (input: string) => cryptoSign(null, Buffer.from(input), key)

describe('signing-key rotation', () => {
  it('publishes the current key first, then the retired one', async () => {
    const keys = (await after.app.inject({ url: '/auth/.well-known/jwks.json' })).json().keys as { kid: string }[]
    expect(keys.map((k) => k.kid)).toEqual(['k-2026-11', 'k-2026-10'])
    expect(keys[1]).toEqual(JSON.parse(oldJwks).keys[0])
  })

  it('a session started before the switch keeps working after it: /me, then refresh to a token of the new key', async () => {
    const user = await register(before.app)
    const s = await loginBearer(before.app, user.email, user.password)
    expect(header(s.accessToken).kid).toBe('k-2026-10')
    expect((await me(after, s.accessToken)).statusCode).toBe(200)

    const res = await refreshJson(after.app, s.refreshToken)
    expect(res.statusCode).toBe(200)
    expect(header(res.json().access_token).kid).toBe('k-2026-11')
    // And an instance not yet switched (a rolling deploy) still takes tokens it signed itself.
    expect((await me(before, s.accessToken)).statusCode).toBe(200)
  })

  it('without JWT_PREVIOUS_JWKS the retired key\'s tokens are refused', async () => {
    const s = await loginBearer(before.app)
    const res = await me(forgetful, s.accessToken)
    expect([res.statusCode, res.json().error]).toEqual([401, 'invalid_token'])
  })

  it('a retired key\'s token still obeys logout (the denylist is by session, not by key)', async () => {
    const s = await loginBearer(before.app)
    await after.app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: s.refreshToken } })
    expect((await me(after, s.accessToken)).json().error).toBe('session_revoked')
    expect(sidOf(s.accessToken)).toBeTruthy()
  })

  it('an expired token of the retired key is token_expired, like any expired token', async () => {
    const now = Math.floor(Date.now() / 1000)
    const token = signed({ alg: 'EdDSA', typ: 'at+jwt', kid: 'k-2026-10' }, claims({ iat: now - 1000, exp: now - 100 }), ed(oldKey.privateKey))
    expect((await me(after, token)).json().error).toBe('token_expired')
  })

  const foreign = generateKeyPairSync('ed25519')
  const oldPublicPem = oldKey.publicKey.export({ type: 'spki', format: 'pem' }).toString()
  it.each([
    ['the retired kid, signed with a foreign key', () => signed({ alg: 'EdDSA', typ: 'at+jwt', kid: 'k-2026-10' }, claims(), ed(foreign.privateKey))],
    ['the current kid, signed with the retired key', () => signed({ alg: 'EdDSA', typ: 'at+jwt', kid: 'k-2026-11' }, claims(), ed(oldKey.privateKey))],
    ['the retired key, but an unknown kid', () => signed({ alg: 'EdDSA', typ: 'at+jwt', kid: 'k-2026-09' }, claims(), ed(oldKey.privateKey))],
    ['the retired key, no kid', () => signed({ alg: 'EdDSA', typ: 'at+jwt' }, claims(), ed(oldKey.privateKey))],
    ['HS256 with the retired public key as the secret (algorithm confusion)', () =>
      signed({ alg: 'HS256', typ: 'at+jwt', kid: 'k-2026-10' }, claims(), (input) => createHmac('sha256', oldPublicPem).update(input).digest())],
    ['HS256 with the retired JWK\'s x as the secret', () =>
      signed({ alg: 'HS256', typ: 'at+jwt', kid: 'k-2026-10' }, claims(), (input) => createHmac('sha256', JSON.parse(oldJwks).keys[0].x).update(input).digest())],
    ['alg none under the retired kid', () => `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'at+jwt', kid: 'k-2026-10' })).toString('base64url')}.${Buffer.from(JSON.stringify(claims())).toString('base64url')}.`],
    ['the retired key, a wrong audience', () => signed({ alg: 'EdDSA', typ: 'at+jwt', kid: 'k-2026-10' }, claims({ aud: 'someone-else' }), ed(oldKey.privateKey))],
    ['the retired key, no typ', () => signed({ alg: 'EdDSA', kid: 'k-2026-10' }, claims(), ed(oldKey.privateKey))],
  ])('%s → 401 invalid_token', async (_name, token) => {
    const res = await me(after, token())
    expect([res.statusCode, res.json().error]).toEqual([401, 'invalid_token'])
  })

  it('the well-formed control: the retired key, its kid, every claim → 200 (so the refusals above are about what they change)', async () => {
    const user = await register(after.app)
    const s = await loginBearer(after.app, user.email, user.password)
    const payload = JSON.parse(Buffer.from(s.accessToken.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>
    const token = signed({ alg: 'EdDSA', typ: 'at+jwt', kid: 'k-2026-10' }, payload, ed(oldKey.privateKey))
    expect((await me(after, token)).statusCode).toBe(200)
  })
})
