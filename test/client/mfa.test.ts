// The SDK's second factors against the real server on a real socket (Bearer, as a Node or React
// Native app uses it): a login that asks for a code, step-up prompts that re-authenticate and
// retry, and the passkey methods refusing where there is no WebAuthn.
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { AuthError, SecondFactorRequired, createAuthClient, memoryStorage, type StepUpChallenge } from '../../client/src/index.js'
import { buildTestApp, type TestApp } from '../helpers/app.js'
import { base32Decode, totp } from '../../src/mfa/totp.js'
import { MFA_ACR } from '../../src/mfa/methods.js'

const clock = { now: Date.UTC(2027, 5, 1, 8, 0, 10) }
let t: TestApp
let base: string
beforeAll(async () => {
  t = await buildTestApp({ clock: () => clock.now, env: { EMAIL_VERIFICATION: 'false' } })
  await t.app.listen({ host: '127.0.0.1', port: 0 })
  base = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`
})
afterAll(() => t?.close())

const PASSWORD = 'correct horse battery'
const client = (onStepUp?: (c: StepUpChallenge) => Promise<boolean>) =>
  createAuthClient({ baseUrl: base, transport: 'bearer', storage: memoryStorage(), crossTab: false, retry: { attempts: 1 }, ...(onStepUp ? { onStepUp } : {}) })

/** An account with the authenticator app on, enrolled through the SDK. */
async function enrolled() {
  const email = `sdk-${Math.random().toString(36).slice(2)}@example.com`
  const c = client()
  await c.register(email, PASSWORD)
  await c.login(email, PASSWORD)
  const e = await c.enrollTotp()
  expect(e.qrCode).toMatch(/^data:image\/svg\+xml;base64,/)
  expect(e.otpauthUri).toContain(`secret=${e.secret}`)
  const secret = base32Decode(e.secret)
  const codes = await c.confirmTotp(totp(secret, clock.now))
  expect(codes).toHaveLength(10)
  expect(await c.mfaStatus()).toMatchObject({ totp: { enabled: true }, recovery_codes_left: 10 })
  const { id } = await c.me()
  clock.now += 30_000
  return { email, id, secret, codes }
}

describe('the SDK with a second factor', () => {
  it('login() throws SecondFactorRequired; verifySecondFactor() with a code logs in', async () => {
    const u = await enrolled()
    const c = client()
    const err = await c.login(u.email, PASSWORD).then(() => null, (e: unknown) => e)
    expect(err).toBeInstanceOf(SecondFactorRequired)
    expect(err).toBeInstanceOf(AuthError)
    const required = err as SecondFactorRequired
    expect([required.code, required.methods, required.expiresInSec]).toEqual(['mfa_required', ['totp', 'recovery_code'], 300])
    expect(c.state).not.toBe('authenticated')
    const wrong = await c.verifySecondFactor(required.challenge, { code: totp(u.secret, clock.now + 3600_000) }).then(() => null, (e: AuthError) => e)
    expect([wrong?.kind, wrong?.code]).toEqual(['rejected', 'invalid_mfa_code'])
    await c.verifySecondFactor(required.challenge, { code: totp(u.secret, clock.now) })
    expect(c.state).toBe('authenticated')
    expect((await c.me()).id).toBe(u.id)
    // a recovery code on another login
    const again = (await c.login(u.email, PASSWORD).catch((e: SecondFactorRequired) => e)) as SecondFactorRequired
    await c.verifySecondFactor(again.challenge, { recoveryCode: u.codes[0]! })
    expect((await c.mfaStatus()).recovery_codes_left).toBe(9)
    clock.now += 30_000
  })

  it('a route asking for a recent second factor calls onStepUp, which re-authenticates; the request then goes through', async () => {
    const u = await enrolled()
    const asked: StepUpChallenge[] = []
    let c = client()
    const onStepUp = vi.fn(async (challenge: StepUpChallenge) => {
      asked.push(challenge)
      await c.reauthenticate({ code: totp(u.secret, clock.now) })
      return true
    })
    c = client(onStepUp)
    const required = (await c.login(u.email, PASSWORD).catch((e: SecondFactorRequired) => e)) as SecondFactorRequired
    await c.verifySecondFactor(required.challenge, { code: totp(u.secret, clock.now) })
    clock.now += 3600_000 // an hour later: the second factor is no longer recent
    const codes = await c.regenerateRecoveryCodes()
    expect(codes).toHaveLength(10)
    expect(asked).toEqual([{ mfa: true, maxAgeSec: 600, acrValues: [MFA_ACR] }])
    // and a password change, through its own path, the same way
    clock.now += 3600_000
    await c.changePassword(PASSWORD, 'a brand new passphrase')
    expect(onStepUp).toHaveBeenCalledTimes(2)
    const res = await c.fetch('/auth/mfa')
    expect(res.status).toBe(200)
    clock.now += 30_000
  })

  it('without onStepUp (or when it declines) the 401 comes back, and no refresh is spent on it', async () => {
    const u = await enrolled()
    const c = client()
    const required = (await c.login(u.email, PASSWORD).catch((e: SecondFactorRequired) => e)) as SecondFactorRequired
    await c.verifySecondFactor(required.challenge, { code: totp(u.secret, clock.now) })
    clock.now += 3600_000
    const err = await c.disableTotp().then(() => null, (e: AuthError) => e)
    expect([err?.kind, err?.code, err?.status]).toEqual(['rejected', 'insufficient_user_authentication', 401])
    expect(c.state).toBe('authenticated')
    const declined = client(async () => false)
    const res = await declined.fetch('/auth/mfa') // no requirement there: fine
    expect(res.status).toBe(401) // this client never logged in
  })

  it('passkeys need WebAuthn: in Node they say so', async () => {
    const c = client()
    const err = await c.loginWithPasskey().then(() => null, (e: AuthError) => e)
    expect(err?.code).toBe('passkeys_unsupported')
  })
})
