// Session claims: fixed when a session starts, carried by every rotation unchanged, and the
// only claims beside the fixed set that an access token may hold.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseAccessClaims, parseSessionClaims } from '../../src/auth/access-claims.js'
import { createTestDatabase } from '../helpers/database.js'
import { testConfig } from '../helpers/app.js'
import { uniqueEmail } from '../helpers/flows.js'
import { buildServices, type Services } from '../helpers/services.js'

const meta = { ip: '192.0.2.7', userAgent: 'test' }
const BASE = { sub: 'u', sid: 's', email: 'e@example.com', email_verified: false, iat: 1, exp: 2, iss: 'i', aud: 'a', jti: 'j' }

describe('parseAccessClaims with session claims', () => {
  it('accepts the fixed set alone, and with well-formed session claims', () => {
    expect(parseAccessClaims(BASE)).toEqual(BASE)
    const full = { ...BASE, amr: ['pwd', 'otp'], auth_time: 1_790_000_000, client_id: 'mobile' }
    expect(parseAccessClaims(full)).toEqual(full)
  })

  it('refuses any other claim, a malformed session claim, and Object.prototype names', () => {
    for (const extra of [
      { role: 'admin' },
      { amr: [] },
      { amr: 'pwd' },
      { amr: [''] },
      { auth_time: 1.5 },
      { auth_time: '1790000000' },
      { client_id: '' },
      { client_id: 7 },
      { toString: 'x' },
      { constructor: {} },
      JSON.parse('{"__proto__": {"admin": true}}'),
    ]) {
      expect(parseAccessClaims({ ...BASE, ...extra }), JSON.stringify(extra)).toBeNull()
    }
    // and a fixed claim missing is not made up for by a session claim
    const { jti: _, ...noJti } = BASE
    expect(parseAccessClaims({ ...noJti, client_id: 'mobile' })).toBeNull()
    expect(parseSessionClaims({ amr: ['pwd'], role: 'admin' })).toBeNull()
  })
})

describe('a session\'s claims across refreshes', () => {
  let db: { url: string; drop(): Promise<void> }
  let s: Services
  beforeAll(async () => {
    db = await createTestDatabase()
    s = await buildServices(testConfig(), db.url)
  })
  afterAll(async () => {
    await s.close()
    await db.drop()
  })

  it('every rotation and replay hands back the claims the session started with, never fresher ones', async () => {
    const user = await s.users.create(uniqueEmail(), 'x')
    const claims = { amr: ['pwd', 'otp'], auth_time: 1_790_000_000, client_id: 'mobile' }
    const started = await s.sessions.start(user, meta, { claims })
    expect(started!.claims).toEqual(claims)
    let token = started!.refreshToken
    for (let i = 0; i < 3; i++) {
      const next = await s.sessions.refresh(token, meta)
      expect(next.claims).toEqual(claims)
      // the parent replays to the same child, with the same claims
      expect((await s.sessions.refresh(token, meta)).claims).toEqual(claims)
      token = next.refreshToken
    }
  })

  it('a session started without claims carries none', async () => {
    const user = await s.users.create(uniqueEmail(), 'x')
    const started = await s.sessions.start(user, meta)
    expect((await s.sessions.refresh(started!.refreshToken, meta)).claims).toEqual({})
  })
})
