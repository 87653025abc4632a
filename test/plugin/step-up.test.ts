// A host's own routes asking more of the authentication (RFC 9470 step-up): authn.require({ mfa })
// and require({ maxAgeSec }), in a plain Fastify() app with the plugin registered as a host
// would, the plugin's clock held so that ages are exact. The checks read the access token
// alone: no database query.
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import Fastify, { type FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import auth from '../../src/index.js'
import { createTestDatabase } from '../helpers/database.js'
import { base32Decode, totp } from '../../src/mfa/totp.js'
import { MFA_ACR } from '../../src/mfa/methods.js'

const clock = { now: Date.UTC(2027, 2, 1, 9, 0, 5) }
let app: FastifyInstance
let db: { url: string; drop(): Promise<void> }
beforeAll(async () => {
  db = await createTestDatabase()
  app = Fastify()
  await app.register(auth, {
    production: false,
    prefix: '/auth',
    database: db.url,
    keys: { signing: { kid: 'k', privateKey: generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() }, refreshTokenSecret: randomBytes(32) },
    passwords: { memoryKiB: 1024, timeCost: 1 },
    emailVerification: { enabled: false },
    clock: () => clock.now,
  })
  app.get('/vault', { preHandler: app.authn.require({ mfa: true }) }, async (request) => ({ amr: request.authn!.amr }))
  app.get('/recent', { preHandler: app.authn.require({ maxAgeSec: 60 }) }, async () => ({ ok: true }))
  app.get('/both', { preHandler: [app.authn.authenticate, app.authn.require({ mfa: true, maxAgeSec: 300 })] }, async () => ({ ok: true }))
  await app.ready()
})
afterAll(async () => {
  await app?.close()
  await db?.drop()
})

const bearer = (t: string) => ({ authorization: `Bearer ${t}` })
const post = (url: string, payload: object, token?: string) => app.inject({ method: 'POST', url, payload, headers: token ? bearer(token) : {} })

async function account() {
  const email = `host-${randomBytes(4).toString('hex')}@example.com`
  const password = 'correct horse battery'
  expect((await post('/auth/register', { email, password })).statusCode).toBe(201)
  return { email, password, access: (await post('/auth/login', { email, password })).json().access_token as string }
}

describe('authn.require() on a host route', () => {
  it('{ mfa: true }: 401 insufficient_user_authentication with acr_values until the token has a second factor', async () => {
    const u = await account()
    const refused = await app.inject({ url: '/vault', headers: bearer(u.access) })
    expect(refused.statusCode).toBe(401)
    expect(refused.json()).toMatchObject({ code: 'insufficient_user_authentication' }) // the host's error shape
    expect(refused.headers['www-authenticate']).toBe(
      `Bearer error="insufficient_user_authentication", error_description="A second factor is required for this request.", acr_values="${MFA_ACR}"`,
    )
    // Enrol, then log in with the code: the route lets it through.
    const secret = base32Decode((await post('/auth/mfa/totp/enroll', {}, u.access)).json().secret)
    expect((await post('/auth/mfa/totp/confirm', { code: totp(secret, clock.now) }, u.access)).statusCode).toBe(200)
    clock.now += 30_000
    const challenge = (await post('/auth/login', { email: u.email, password: u.password })).json().challenge
    const session = (await post('/auth/mfa/verify', { challenge, code: totp(secret, clock.now) })).json()
    const ok = await app.inject({ url: '/vault', headers: bearer(session.access_token) })
    expect([ok.statusCode, ok.json()]).toEqual([200, { amr: ['pwd', 'otp', 'mfa'] }])
    // Both: a second factor, and at most 300 s ago.
    expect((await app.inject({ url: '/both', headers: bearer(session.access_token) })).statusCode).toBe(200)
    clock.now += 301_000
    const old = await app.inject({ url: '/both', headers: bearer(session.access_token) })
    expect(old.statusCode).toBe(401)
    expect(old.headers['www-authenticate']).toContain(`acr_values="${MFA_ACR}", max_age="300"`)
    // the mfa route alone does not care how old
    expect((await app.inject({ url: '/vault', headers: bearer(session.access_token) })).statusCode).toBe(200)
  })

  it('{ maxAgeSec: 60 }: a login older than that is told max_age, and a re-authentication lets it through', async () => {
    const u = await account()
    expect((await app.inject({ url: '/recent', headers: bearer(u.access) })).statusCode).toBe(200)
    clock.now += 61_000
    const refused = await app.inject({ url: '/recent', headers: bearer(u.access) })
    expect(refused.statusCode).toBe(401)
    expect(refused.headers['www-authenticate']).toBe(
      'Bearer error="insufficient_user_authentication", error_description="A more recent authentication is required: re-authenticate.", max_age="60"',
    )
    const { access_token } = (await post('/auth/reauthenticate', { password: u.password }, u.access)).json()
    expect((await app.inject({ url: '/recent', headers: bearer(access_token) })).statusCode).toBe(200)
    // no token at all is still the plain Bearer challenge
    expect((await app.inject({ url: '/recent' })).headers['www-authenticate']).toBe('Bearer')
  })

  it('refuses a misspelt or malformed requirement when the route is declared', () => {
    expect(() => app.authn.require({ mfa: 'yes' } as never)).toThrow(/mfa must be true or false/)
    expect(() => app.authn.require({ maxAgeSec: -1 })).toThrow(/maxAgeSec/)
    expect(() => app.authn.require({ maxAge: 5 } as never)).toThrow(/unknown requirement "maxAge"/)
  })
})
