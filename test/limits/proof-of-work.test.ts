// The per-account ceiling's pure decisions: when a proof is needed, how hard, and which
// proofs are valid.
import { createHash, randomBytes } from 'node:crypto'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  challengeBits,
  checkProof,
  failuresAllowedBelow,
  issueChallenge,
  leadingZeroBits,
  proofHash,
  requiredBits,
  type ProofOfWorkPolicy,
} from '../../src/limits/proof-of-work.js'
import { accountKey, attemptKey } from '../../src/limits/policy.js'

const P: ProofOfWorkPolicy = { afterFailures: 10, baseBits: 14, maxBits: 17, challengeTtlSec: 120 }
const KEY = randomBytes(32)
const NOW = 1_800_000_000
const rand = () => randomBytes(16).toString('base64url')

function solve(challenge: string, bits: number, password: string): string {
  for (let i = 0; ; i++) if (leadingZeroBits(proofHash(challenge, password, i.toString(36))) >= bits) return i.toString(36)
}

describe('requiredBits', () => {
  it('none below the threshold; base bits at it; one more per doubling; capped', () => {
    const at = (f: number) => requiredBits(f, P)
    expect([0, 1, 9].map(at)).toEqual([0, 0, 0])
    expect([10, 19, 20, 39, 40, 79, 80, 1000, 2 ** 31 - 1].map(at)).toEqual([14, 14, 15, 15, 16, 16, 17, 17, 17])
  })

  it('never decreases as failures grow, and stays within [base, max] once required', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: 20 }), fc.integer({ min: 0, max: 10 }), fc.nat(2 ** 31), (after, base, extra, f) => {
        const p = { ...P, afterFailures: after, baseBits: base, maxBits: base + extra }
        const r = requiredBits(f, p)
        expect(requiredBits(f + 1, p)).toBeGreaterThanOrEqual(r)
        if (f >= after) expect(r).toBeGreaterThanOrEqual(base)
        expect(r).toBeLessThanOrEqual(base + extra)
      }),
    )
  })
})

describe('failuresAllowedBelow is exactly the inverse of requiredBits', () => {
  it('an attempt with a proof of b bits goes on iff the difficulty needed now is at most b', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: 20 }), fc.integer({ min: 0, max: 10 }), fc.nat(40), fc.nat(2 ** 31), (after, base, extra, b, f) => {
        const p = { ...P, afterFailures: after, baseBits: base, maxBits: base + extra }
        expect(f < failuresAllowedBelow(b, p)).toBe(requiredBits(f, p) <= b)
      }),
    )
  })

  it('without a proof: only below the threshold', () => {
    expect(failuresAllowedBelow(0, P)).toBe(10)
  })
})

describe('challengeBits', () => {
  it('asks for what is needed now, never less than base, and always more than a proof that fell short', () => {
    expect(challengeBits(10, 0, P)).toBe(14)
    expect(challengeBits(45, 0, P)).toBe(16)
    expect(challengeBits(10, 15, P)).toBe(16) // a race: more than what was shown
    expect(challengeBits(5000, 17, P)).toBe(17) // never above the cap
  })
})

describe('challenges and proofs', () => {
  const account = accountKey('ada@example.com')
  const password = 'correct horse battery'

  it('a solution of our challenge, for this account and password, proves its difficulty', () => {
    const c = issueChallenge(KEY, account, 8, NOW, rand(), P)
    expect(c.length).toBeLessThanOrEqual(200)
    const nonce = solve(c, 8, password)
    expect(checkProof(KEY, account, { challenge: c, nonce }, password, NOW + 1, P)).toEqual({ bits: 8, expiresAtSec: NOW + 120 })
  })

  it('binds the password: NFC forms are one password, another password is no proof', () => {
    const c = issueChallenge(KEY, account, 10, NOW, rand(), P)
    const nonce = solve(c, 10, 'caf\u00e9 au lait')
    expect(checkProof(KEY, account, { challenge: c, nonce }, 'cafe\u0301 au lait', NOW, P).bits).toBe(10)
    // the chance that the nonce also fits another password is 2^-10; pick ones it does not fit
    const others = ['café au lait!', 'cafe au lait', password].filter((p) => leadingZeroBits(proofHash(c, p, nonce)) < 10)
    expect(others.length).toBeGreaterThan(0)
    for (const p of others) expect(checkProof(KEY, account, { challenge: c, nonce }, p, NOW, P).bits).toBe(0)
  })

  it('is refused when expired, for another account, under another key, or altered', () => {
    const c = issueChallenge(KEY, account, 6, NOW, rand(), P)
    const nonce = solve(c, 6, password)
    const proof = { challenge: c, nonce }
    expect(checkProof(KEY, account, proof, password, NOW + 120, P).bits).toBe(0) // expired
    expect(checkProof(KEY, account, proof, password, NOW + 119, P).bits).toBe(6)
    expect(checkProof(KEY, accountKey('bob@example.com'), proof, password, NOW, P).bits).toBe(0)
    expect(checkProof(randomBytes(32), account, proof, password, NOW, P).bits).toBe(0)
    const [v, exp, bits, r, mac] = c.split('.')
    for (const altered of [
      [v, exp, '1', r, mac], // easier
      [v, String(Number(exp) + 3600), bits, r, mac], // longer-lived
      [v, exp, bits, rand(), mac],
      [v, exp, bits, r, `${mac!.slice(0, -1)}${mac!.endsWith('A') ? 'B' : 'A'}`],
    ]) {
      const challenge = altered.join('.')
      expect(checkProof(KEY, account, { challenge, nonce: solve(challenge, 6, password) }, password, NOW, P).bits).toBe(0)
    }
    for (const junk of ['', 'v1', 'v1.1.2.3.4', `${c}.`, `v2${c.slice(2)}`]) {
      expect(checkProof(KEY, account, { challenge: junk, nonce: '0' }, password, NOW, P).bits).toBe(0)
    }
  })

  it('a challenge that claims to live longer than the TTL is refused even with a good MAC (a TTL was lowered)', () => {
    const c = issueChallenge(KEY, account, 4, NOW, rand(), { ...P, challengeTtlSec: 3600 })
    expect(checkProof(KEY, account, { challenge: c, nonce: solve(c, 4, password) }, password, NOW, P).bits).toBe(0)
  })

  it('every challenge is different', () => {
    const a = issueChallenge(KEY, account, 14, NOW, rand(), P)
    const b = issueChallenge(KEY, account, 14, NOW, rand(), P)
    expect(a).not.toBe(b)
  })
})

describe('the hash rule, as the README and the SDK state it', () => {
  it('SHA-256(challenge + "." + hex(SHA-256(NFC(password))) + "." + nonce)', () => {
    const ph = createHash('sha256').update('pässword'.normalize('NFC')).digest('hex')
    expect(proofHash('ch', 'pa\u0308ssword', 'n1')).toEqual(createHash('sha256').update(`ch.${ph}.n1`).digest())
  })

  it('leadingZeroBits', () => {
    expect(leadingZeroBits(Uint8Array.from([0x80]))).toBe(0)
    expect(leadingZeroBits(Uint8Array.from([0x01, 0xff]))).toBe(7)
    expect(leadingZeroBits(Uint8Array.from([0x00, 0x00, 0x3f]))).toBe(18)
    expect(leadingZeroBits(new Uint8Array(32))).toBe(256)
  })
})

describe('the account key', () => {
  it('is one per address however it is typed, and never a per-address key', () => {
    expect(accountKey('  Ada@Example.COM ')).toBe(accountKey('ada@example.com'))
    expect(accountKey('ada@example.com')).not.toBe(attemptKey('ada@example.com', '127.0.0.1'))
    expect(accountKey('ada@example.com')).toMatch(/^[0-9a-f]{64}$/)
  })
})
