// The pure pieces of the second factors: RFC 4226/6238 against their own test vectors, base32
// against RFC 4648's, the sealed secret, the recovery codes, and the step-up decision.
import { describe, expect, it } from 'vitest'
import { randomBytes } from 'node:crypto'
import { base32Decode, base32Encode, hotp, matchTotp, otpauthUri, totp, totpStep } from '../../src/mfa/totp.js'
import { open, seal } from '../../src/mfa/secret-box.js'
import { newRecoveryCodes, normaliseRecoveryCode, recoveryCodeHash } from '../../src/mfa/recovery-codes.js'
import { MFA_ACR, insufficientAuthentication, passkeyClaims, reauthenticatedClaims, twoFactorClaims, unmetNeeds } from '../../src/mfa/methods.js'

const RFC_SECRET = Buffer.from('12345678901234567890', 'ascii')

describe('HOTP (RFC 4226 appendix D)', () => {
  it('gives the ten published values for counters 0 to 9', () => {
    const expected = ['755224', '287082', '359152', '969429', '338314', '254676', '287922', '162583', '399871', '520489']
    expect(expected.map((_, i) => hotp(RFC_SECRET, BigInt(i)))).toEqual(expected)
  })
})

describe('TOTP (RFC 6238 appendix B, SHA-1)', () => {
  it.each([
    [59, '94287082'],
    [1111111109, '07081804'],
    [1111111111, '14050471'],
    [1234567890, '89005924'],
    [2000000000, '69279037'],
    [20000000000, '65353130'],
  ])('at %i s: %s (8 digits)', (sec, code) => {
    expect(totp(RFC_SECRET, sec * 1000, 8)).toBe(code)
    expect(totp(RFC_SECRET, sec * 1000)).toBe(code.slice(2)) // 6 digits: the same value mod 10^6
  })

  it('accepts the current step and one either side, each only after the last step used', () => {
    const now = 1_800_000_015_000
    const t = totpStep(now)
    const at = (d: number) => hotp(RFC_SECRET, t + BigInt(d))
    expect(matchTotp(RFC_SECRET, at(0), now, 0n)).toBe(t)
    expect(matchTotp(RFC_SECRET, at(-1), now, 0n)).toBe(t - 1n)
    expect(matchTotp(RFC_SECRET, at(1), now, 0n)).toBe(t + 1n)
    expect(matchTotp(RFC_SECRET, at(2), now, 0n)).toBeNull()
    expect(matchTotp(RFC_SECRET, at(-2), now, 0n)).toBeNull()
    // once a step is used, its code and every older one are refused
    expect(matchTotp(RFC_SECRET, at(0), now, t)).toBeNull()
    expect(matchTotp(RFC_SECRET, at(-1), now, t)).toBeNull()
    expect(matchTotp(RFC_SECRET, at(1), now, t)).toBe(t + 1n)
    for (const bad of ['', '12345', '1234567', 'abcdef', ' 123456']) expect(matchTotp(RFC_SECRET, bad, now, 0n)).toBeNull()
  })

  it('writes the otpauth:// URI apps read, with the secret in base32', () => {
    const secret = randomBytes(20)
    const uri = new URL(otpauthUri({ issuer: 'Acme Inc', account: 'ada+x@example.com', secret }))
    expect(uri.protocol).toBe('otpauth:')
    expect(uri.host).toBe('totp')
    expect(decodeURIComponent(uri.pathname)).toBe('/Acme Inc:ada+x@example.com')
    expect(uri.searchParams.get('issuer')).toBe('Acme Inc')
    expect(base32Decode(uri.searchParams.get('secret')!).equals(secret)).toBe(true)
    expect(Object.fromEntries(['algorithm', 'digits', 'period'].map((k) => [k, uri.searchParams.get(k)]))).toEqual({ algorithm: 'SHA1', digits: '6', period: '30' })
  })
})

describe('base32 (RFC 4648 §10)', () => {
  it.each([
    ['', ''],
    ['f', 'MY'],
    ['fo', 'MZXQ'],
    ['foo', 'MZXW6'],
    ['foob', 'MZXW6YQ'],
    ['fooba', 'MZXW6YTB'],
    ['foobar', 'MZXW6YTBOI'],
  ])('%j <-> %s (unpadded)', (text, encoded) => {
    expect(base32Encode(Buffer.from(text))).toBe(encoded)
    expect(base32Decode(encoded).toString()).toBe(text)
  })
})

describe('the sealed TOTP secret', () => {
  const key = randomBytes(32)
  it('opens only with its key and for its owner; any change to it fails', () => {
    const secret = randomBytes(20)
    const sealed = seal(key, secret, 'totp\nuser-a')
    expect(sealed).toMatch(/^v1\.[\w-]+\.[\w-]+\.[\w-]+$/)
    expect(sealed).not.toContain(base32Encode(secret))
    expect(open(key, sealed, 'totp\nuser-a')!.equals(secret)).toBe(true)
    expect(open(key, sealed, 'totp\nuser-b')).toBeNull()
    expect(open(randomBytes(32), sealed, 'totp\nuser-a')).toBeNull()
    const parts = sealed.split('.')
    const body = Buffer.from(parts[2]!, 'base64url')
    body[0]! ^= 1
    expect(open(key, [parts[0], parts[1], body.toString('base64url'), parts[3]].join('.'), 'totp\nuser-a')).toBeNull()
    expect(seal(key, secret, 'totp\nuser-a')).not.toBe(sealed) // a new IV each time
  })
})

describe('recovery codes', () => {
  it('ten distinct codes of 50 bits, read back whatever the case, spacing or look-alikes', () => {
    const codes = newRecoveryCodes()
    expect(codes).toHaveLength(10)
    expect(new Set(codes).size).toBe(10)
    for (const c of codes) expect(c).toMatch(/^[0-9a-hjkmnp-tv-z]{5}-[0-9a-hjkmnp-tv-z]{5}$/)
    const c = codes[0]!
    expect(normaliseRecoveryCode(` ${c.toUpperCase().replace('-', ' ')} `)).toBe(c.replace('-', ''))
    expect(normaliseRecoveryCode('OOOOO-IIIII')).toBe('0000011111')
    expect(normaliseRecoveryCode('short')).toBeNull()
    const key = randomBytes(32)
    const h = recoveryCodeHash(key, 'u1', c.replace('-', ''))
    expect(h).toMatch(/^[0-9a-f]{64}$/)
    expect(recoveryCodeHash(key, 'u2', c.replace('-', ''))).not.toBe(h) // bound to its account
  })
})

describe('what a route may ask of the authentication (RFC 8176 amr, RFC 9470)', () => {
  const now = 1_800_000_000_000
  const sec = now / 1000
  it('names the methods of each way in', () => {
    expect(twoFactorClaims({ kind: 'totp' }, now)).toEqual({ amr: ['pwd', 'otp', 'mfa'], auth_time: sec })
    expect(twoFactorClaims({ kind: 'recovery_code' }, now)).toEqual({ amr: ['pwd', 'mfa'], auth_time: sec })
    expect(twoFactorClaims({ kind: 'passkey', backupEligible: false, userVerified: false }, now).amr).toEqual(['pwd', 'hwk', 'mfa'])
    expect(passkeyClaims({ kind: 'passkey', backupEligible: true, userVerified: true }, now).amr).toEqual(['swk', 'mfa'])
    expect(passkeyClaims({ kind: 'passkey', backupEligible: false, userVerified: false }, now).amr).toEqual(['hwk'])
    // a step-up keeps what the session had, adds the factor, dates it now
    expect(reauthenticatedClaims({ amr: ['pwd'], auth_time: 1, client_id: 'c' }, { kind: 'totp' }, now)).toEqual({ amr: ['pwd', 'otp', 'mfa'], auth_time: sec })
    // a password alone never keeps an older second factor looking fresh
    expect(reauthenticatedClaims({ amr: ['pwd', 'otp', 'mfa'], auth_time: 1 }, 'password', now).amr).toEqual(['pwd'])
  })

  it('asks for what is missing, and says so in the challenge', () => {
    expect(unmetNeeds({ amr: ['pwd', 'otp', 'mfa'], auth_time: sec - 10 }, { mfa: true, maxAgeSec: 60 }, now)).toBeNull()
    expect(unmetNeeds({ amr: ['pwd'], auth_time: sec }, { mfa: true }, now)).toEqual({ mfa: true })
    expect(unmetNeeds({ amr: ['pwd'], auth_time: sec - 61 }, { maxAgeSec: 60 }, now)).toEqual({ maxAgeSec: 60 })
    // an old second factor: a recent one is asked for
    expect(unmetNeeds({ amr: ['pwd', 'mfa'], auth_time: sec - 61 }, { mfa: true, maxAgeSec: 60 }, now)).toEqual({ mfa: true, maxAgeSec: 60 })
    expect(unmetNeeds({}, { maxAgeSec: 60 }, now)).toEqual({ maxAgeSec: 60 }) // no auth_time: as old as can be
    const err = insufficientAuthentication({ mfa: true, maxAgeSec: 60 })
    expect(err.statusCode).toBe(401)
    expect(err.code).toBe('insufficient_user_authentication')
    // RFC 9470 §3: auth-params of the Bearer challenge, quoted
    expect(err.wwwAuthenticate).toBe(
      `Bearer error="insufficient_user_authentication", error_description="A recent second factor is required: re-authenticate with it.", acr_values="${MFA_ACR}", max_age="60"`,
    )
    expect(insufficientAuthentication({ maxAgeSec: 5 }).wwwAuthenticate).not.toContain('acr_values')
  })
})
