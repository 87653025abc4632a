import { createPublicKey, verify } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildTestApp, type TestApp } from '../helpers/app.js'
import { loginBearer } from '../helpers/flows.js'

let t: TestApp
beforeAll(async () => {
  t = await buildTestApp()
})
afterAll(() => t.close())

describe('GET /.well-known/jwks.json', () => {
  it('publishes the Ed25519 public key with its kid, and nothing private', async () => {
    const res = await t.app.inject({ url: '/auth/.well-known/jwks.json' })
    expect(res.statusCode).toBe(200)
    const { keys } = res.json()
    expect(keys).toEqual([{ kty: 'OKP', crv: 'Ed25519', x: expect.any(String), kid: 'test-key', alg: 'EdDSA', use: 'sig' }])
    expect(keys[0].d).toBeUndefined()
  })

  it('is enough for another service to verify our access tokens', async () => {
    const { keys } = (await t.app.inject({ url: '/auth/.well-known/jwks.json' })).json()
    const s = await loginBearer(t.app)
    const [h, p, sig] = s.accessToken.split('.')
    const key = createPublicKey({ key: keys[0], format: 'jwk' })
    expect(verify(null, Buffer.from(`${h}.${p}`), key, Buffer.from(sig!, 'base64url'))).toBe(true)
  })

  it('publishes no key under HS256, whose key is a shared secret', async () => {
    const hs = await buildTestApp({ env: { JWT_ALGORITHM: 'HS256', JWT_SECRET: 'Zq3v9XkP2mT7wR4yB8nL5cH1jF6dS0gAeUoIt' } })
    try {
      expect((await hs.app.inject({ url: '/auth/.well-known/jwks.json' })).json()).toEqual({ keys: [] })
    } finally {
      await hs.close()
    }
  })
})
