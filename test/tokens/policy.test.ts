// Unit tests of the pure rotation rule (src/tokens/policy.ts) and of the token primitives
// (src/tokens/refresh-token.ts). No database: every state is built by hand.
import { describe, expect, it } from 'vitest'
import { childExpiry, decideRotation, type FamilyState, type TokenState } from '../../src/tokens/policy.js'
import {
  REFRESH_TOKEN_PATTERN,
  deriveChildToken,
  hashRefreshToken,
  isWellFormedRefreshToken,
  newRefreshToken,
} from '../../src/tokens/refresh-token.js'

const SEC = 1000
const MIN = 60 * SEC
const HOUR = 60 * MIN
const DAY = 24 * HOUR

const T0 = new Date('2025-03-01T12:00:00.000Z')
const at = (ms: number) => new Date(T0.getTime() + ms)

const TTL = 15 * MIN
const WINDOW = 30 * SEC

/**
 * A family of three generations, rotated at T0+1min and T0+2min:
 *   root (spent) -> parent (spent) -> live (unspent, created at T0+2min)
 */
function chain() {
  const root: TokenState = { id: 'root', parentId: null, createdAt: at(0), spentAt: at(1 * MIN), expiresAt: at(TTL) }
  const parent: TokenState = {
    id: 'parent',
    parentId: 'root',
    createdAt: at(1 * MIN),
    spentAt: at(2 * MIN),
    expiresAt: at(1 * MIN + TTL),
  }
  const live: TokenState = {
    id: 'live',
    parentId: 'parent',
    createdAt: at(2 * MIN),
    spentAt: null,
    expiresAt: at(2 * MIN + TTL),
  }
  const family: FamilyState = { revokedAt: null, expiresAt: at(30 * DAY) }
  return { root, parent, live, family }
}

describe('decideRotation', () => {
  describe('rotate', () => {
    it('live token rotates', () => {
      const { live, family } = chain()
      expect(decideRotation({ presented: live, live, family, now: at(3 * MIN), windowMs: WINDOW })).toEqual({
        kind: 'rotate',
      })
    })

    it('live token one ms before its own expiry still rotates', () => {
      const { live, family } = chain()
      const now = new Date(live.expiresAt.getTime() - 1)
      expect(decideRotation({ presented: live, live, family, now, windowMs: WINDOW })).toEqual({ kind: 'rotate' })
    })

    it('first token of a fresh family (no parent) rotates', () => {
      const first: TokenState = { id: 'first', parentId: null, createdAt: at(0), spentAt: null, expiresAt: at(TTL) }
      const family: FamilyState = { revokedAt: null, expiresAt: at(30 * DAY) }
      expect(decideRotation({ presented: first, live: first, family, now: at(0), windowMs: WINDOW })).toEqual({
        kind: 'rotate',
      })
    })
  })

  describe('expired', () => {
    it('live token past its own expiry -> expired', () => {
      const { live, family } = chain()
      const now = new Date(live.expiresAt.getTime() + 1)
      expect(decideRotation({ presented: live, live, family, now, windowMs: WINDOW })).toEqual({ kind: 'expired' })
    })

    it('live token exactly at its own expiry -> expired', () => {
      const { live, family } = chain()
      expect(decideRotation({ presented: live, live, family, now: live.expiresAt, windowMs: WINDOW })).toEqual({
        kind: 'expired',
      })
    })

    it('family past absolute expiry -> expired, even for a live token that is itself still valid', () => {
      const { live } = chain()
      const family: FamilyState = { revokedAt: null, expiresAt: at(3 * MIN) }
      const now = at(3 * MIN + 1)
      expect(now < live.expiresAt).toBe(true)
      expect(decideRotation({ presented: live, live, family, now, windowMs: WINDOW })).toEqual({ kind: 'expired' })
    })

    it('family exactly at absolute expiry -> expired', () => {
      const { live } = chain()
      const family: FamilyState = { revokedAt: null, expiresAt: at(3 * MIN) }
      expect(decideRotation({ presented: live, live, family, now: at(3 * MIN), windowMs: WINDOW })).toEqual({
        kind: 'expired',
      })
    })

    it('family past absolute expiry -> expired for a spent ancestor (expiry is checked before reuse)', () => {
      const { root, live } = chain()
      const family: FamilyState = { revokedAt: null, expiresAt: at(3 * MIN) }
      expect(decideRotation({ presented: root, live, family, now: at(4 * MIN), windowMs: WINDOW })).toEqual({
        kind: 'expired',
      })
    })

    it('family past absolute expiry -> expired for the parent of live inside the window (not replay)', () => {
      const { parent, live } = chain()
      const family: FamilyState = { revokedAt: null, expiresAt: at(2 * MIN + 5 * SEC) }
      expect(
        decideRotation({ presented: parent, live, family, now: at(2 * MIN + 10 * SEC), windowMs: WINDOW }),
      ).toEqual({ kind: 'expired' })
    })
  })

  describe('revoked', () => {
    const revokedFamily = (): FamilyState => ({ revokedAt: at(150 * SEC), expiresAt: at(30 * DAY) })

    it('revoked family -> revoked for the live token', () => {
      const { live } = chain()
      expect(
        decideRotation({ presented: live, live, family: revokedFamily(), now: at(3 * MIN), windowMs: WINDOW }),
      ).toEqual({ kind: 'revoked' })
    })

    it('revoked family -> revoked for the parent, even inside the replay window', () => {
      const { parent, live } = chain()
      expect(
        decideRotation({
          presented: parent,
          live,
          family: revokedFamily(),
          now: at(2 * MIN + 1 * SEC),
          windowMs: WINDOW,
        }),
      ).toEqual({ kind: 'revoked' })
    })

    it('revoked family -> revoked for an ancestor (not reuse again)', () => {
      const { root, live } = chain()
      expect(
        decideRotation({ presented: root, live, family: revokedFamily(), now: at(3 * MIN), windowMs: WINDOW }),
      ).toEqual({ kind: 'revoked' })
    })

    it('revoked family that has also passed its absolute expiry -> revoked (revocation is reported first)', () => {
      const { live } = chain()
      const family: FamilyState = { revokedAt: at(150 * SEC), expiresAt: at(3 * MIN) }
      expect(decideRotation({ presented: live, live, family, now: at(4 * MIN), windowMs: WINDOW })).toEqual({
        kind: 'revoked',
      })
    })

    it('revoked family -> revoked when there is no live token', () => {
      const { parent } = chain()
      expect(
        decideRotation({ presented: parent, live: null, family: revokedFamily(), now: at(3 * MIN), windowMs: WINDOW }),
      ).toEqual({ kind: 'revoked' })
    })
  })

  describe('replay', () => {
    it('parent of live within the window -> replay with childId', () => {
      const { parent, live, family } = chain()
      expect(
        decideRotation({ presented: parent, live, family, now: at(2 * MIN + 10 * SEC), windowMs: WINDOW }),
      ).toEqual({ kind: 'replay', childId: 'live' })
    })

    it('parent of live at the very instant the child was created -> replay', () => {
      const { parent, live, family } = chain()
      expect(decideRotation({ presented: parent, live, family, now: live.createdAt, windowMs: WINDOW })).toEqual({
        kind: 'replay',
        childId: 'live',
      })
    })

    it('parent of live exactly at the window boundary (== windowMs) -> replay', () => {
      const { parent, live, family } = chain()
      const now = new Date(live.createdAt.getTime() + WINDOW)
      expect(decideRotation({ presented: parent, live, family, now, windowMs: WINDOW })).toEqual({
        kind: 'replay',
        childId: 'live',
      })
    })

    it('parent of live within the window -> replay even when the parent is past its own expiry', () => {
      // rotated 1 s before it expired, retried 5 s later: a benign retry, not an expiry
      const { parent, family } = chain()
      const childAt = parent.expiresAt.getTime() - 1 * SEC
      const spentParent: TokenState = { ...parent, spentAt: new Date(childAt) }
      const live: TokenState = {
        id: 'live',
        parentId: 'parent',
        createdAt: new Date(childAt),
        spentAt: null,
        expiresAt: new Date(childAt + TTL),
      }
      const now = new Date(childAt + 5 * SEC)
      expect(now > parent.expiresAt).toBe(true)
      expect(decideRotation({ presented: spentParent, live, family, now, windowMs: WINDOW })).toEqual({
        kind: 'replay',
        childId: 'live',
      })
    })

    it('window is measured from the child creation, not from when the parent was spent', () => {
      // parent spent at T0+2min but child recorded a little later (same transaction in reality;
      // the rule must only look at the child's createdAt).
      const { parent, family } = chain()
      const live: TokenState = {
        id: 'live',
        parentId: 'parent',
        createdAt: at(2 * MIN + 20 * SEC),
        spentAt: null,
        expiresAt: at(2 * MIN + 20 * SEC + TTL),
      }
      const now = at(2 * MIN + 20 * SEC + WINDOW)
      expect(decideRotation({ presented: parent, live, family, now, windowMs: WINDOW })).toEqual({
        kind: 'replay',
        childId: 'live',
      })
    })
  })

  describe('reuse', () => {
    it('parent of live 1 ms after the window -> reuse', () => {
      const { parent, live, family } = chain()
      const now = new Date(live.createdAt.getTime() + WINDOW + 1)
      expect(decideRotation({ presented: parent, live, family, now, windowMs: WINDOW })).toEqual({ kind: 'reuse' })
    })

    it('window 0 disables replay: parent of live at the instant of the child creation -> reuse', () => {
      const { parent, live, family } = chain()
      expect(decideRotation({ presented: parent, live, family, now: live.createdAt, windowMs: 0 })).toEqual({
        kind: 'reuse',
      })
    })

    it('window 0 disables replay: parent of live 1 ms later -> reuse', () => {
      const { parent, live, family } = chain()
      const now = new Date(live.createdAt.getTime() + 1)
      expect(decideRotation({ presented: parent, live, family, now, windowMs: 0 })).toEqual({ kind: 'reuse' })
    })

    it('grandparent inside the window -> reuse (the window never reopens)', () => {
      const { root, live, family } = chain()
      // a large window so that even the grandparent's spend is "recent"
      const now = at(2 * MIN + 1 * SEC)
      expect(decideRotation({ presented: root, live, family, now, windowMs: 10 * MIN })).toEqual({ kind: 'reuse' })
    })

    it('parent when there is no live token -> reuse', () => {
      const { parent, family } = chain()
      expect(
        decideRotation({ presented: parent, live: null, family, now: at(2 * MIN + 1 * SEC), windowMs: WINDOW }),
      ).toEqual({ kind: 'reuse' })
    })

    it('a spent token whose child is not the live token -> reuse', () => {
      // parent was spent into a child "other", but the live token descends from somewhere else
      const { parent, family } = chain()
      const live: TokenState = {
        id: 'live',
        parentId: 'other',
        createdAt: at(2 * MIN),
        spentAt: null,
        expiresAt: at(2 * MIN + TTL),
      }
      expect(
        decideRotation({ presented: parent, live, family, now: at(2 * MIN + 1 * SEC), windowMs: WINDOW }),
      ).toEqual({ kind: 'reuse' })
    })

    it('spent ancestor past its own token expiry (family still valid) -> reuse, not expired', () => {
      // Only the family's expiry and the live token's own expiry mean "expired"; a spent token
      // presented again is evidence of theft whatever its own expiry.
      const { root, live, family } = chain()
      const now = new Date(root.expiresAt.getTime() + 1)
      expect(now < family.expiresAt && now < live.expiresAt).toBe(true)
      expect(decideRotation({ presented: root, live, family, now, windowMs: WINDOW })).toEqual({ kind: 'reuse' })
    })

    it('spent root long after rotation -> reuse', () => {
      const { root, live, family } = chain()
      expect(decideRotation({ presented: root, live, family, now: at(1 * HOUR), windowMs: WINDOW })).toEqual({
        kind: 'reuse',
      })
    })
  })
})

describe('childExpiry', () => {
  it('is now + ttl when the family outlives it', () => {
    expect(childExpiry(T0, TTL, at(30 * DAY))).toEqual(at(TTL))
  })

  it('is capped at the family expiry when now + ttl would exceed it', () => {
    expect(childExpiry(T0, TTL, at(5 * MIN))).toEqual(at(5 * MIN))
  })

  it('equals the family expiry exactly when now + ttl == family expiry', () => {
    expect(childExpiry(T0, TTL, at(TTL))).toEqual(at(TTL))
  })

  it('never exceeds the family expiry (sweep)', () => {
    const ttls = [0, 1, SEC, TTL, DAY, 365 * DAY]
    const familyOffsets = [0, 1, 30 * SEC, TTL - 1, TTL, TTL + 1, 30 * DAY]
    for (const ttl of ttls) {
      for (const off of familyOffsets) {
        const fam = at(off)
        const exp = childExpiry(T0, ttl, fam)
        expect(exp.getTime()).toBeLessThanOrEqual(fam.getTime())
        expect(exp.getTime()).toBeLessThanOrEqual(T0.getTime() + ttl)
        expect(exp.getTime()).toBe(Math.min(T0.getTime() + ttl, fam.getTime()))
      }
    }
  })

  it('returns a fresh Date (does not alias the family expiry)', () => {
    const fam = at(5 * MIN)
    const exp = childExpiry(T0, TTL, fam)
    expect(exp).not.toBe(fam)
    expect(exp).toBeInstanceOf(Date)
  })
})

describe('refresh-token primitives', () => {
  const secret = Buffer.from('0123456789abcdef0123456789abcdef', 'utf8')
  const otherSecret = Buffer.from('fedcba9876543210fedcba9876543210', 'utf8')

  it('newRefreshToken is 43-char base64url (>= 256 bits)', () => {
    for (let i = 0; i < 200; i++) {
      const t = newRefreshToken()
      expect(t).toHaveLength(43)
      expect(t).toMatch(/^[A-Za-z0-9_-]{43}$/)
      expect(isWellFormedRefreshToken(t)).toBe(true)
      // 43 base64url chars without padding decode to 32 bytes = 256 bits
      expect(Buffer.from(t, 'base64url')).toHaveLength(32)
    }
  })

  it('newRefreshToken is unique over many draws', () => {
    const n = 10_000
    const seen = new Set<string>()
    for (let i = 0; i < n; i++) seen.add(newRefreshToken())
    expect(seen.size).toBe(n)
  })

  it('hashRefreshToken is sha256 hex (64 chars), deterministic, and differs from the token', () => {
    const t = newRefreshToken()
    const h = hashRefreshToken(t)
    expect(h).toMatch(/^[0-9a-f]{64}$/)
    expect(h).not.toBe(t)
    expect(hashRefreshToken(t)).toBe(h)
    expect(hashRefreshToken(newRefreshToken())).not.toBe(h)
  })

  it('hashRefreshToken matches a known SHA-256 vector', () => {
    expect(hashRefreshToken('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
  })

  it('deriveChildToken is deterministic for (parent, secret)', () => {
    const parent = newRefreshToken()
    expect(deriveChildToken(parent, secret)).toBe(deriveChildToken(parent, Buffer.from(secret)))
  })

  it('deriveChildToken differs for another secret', () => {
    const parent = newRefreshToken()
    expect(deriveChildToken(parent, secret)).not.toBe(deriveChildToken(parent, otherSecret))
  })

  it('deriveChildToken differs for another parent', () => {
    expect(deriveChildToken(newRefreshToken(), secret)).not.toBe(deriveChildToken(newRefreshToken(), secret))
  })

  it('deriveChildToken differs from its parent and yields a well-formed token', () => {
    for (let i = 0; i < 100; i++) {
      const parent = newRefreshToken()
      const child = deriveChildToken(parent, secret)
      expect(child).not.toBe(parent)
      expect(child).toHaveLength(43)
      expect(isWellFormedRefreshToken(child)).toBe(true)
      // and a grandchild too
      expect(isWellFormedRefreshToken(deriveChildToken(child, secret))).toBe(true)
    }
  })

  it('isWellFormedRefreshToken rejects truncated, extended and invalid-char tokens', () => {
    const t = newRefreshToken()
    expect(isWellFormedRefreshToken(t)).toBe(true)
    expect(isWellFormedRefreshToken('')).toBe(false)
    expect(isWellFormedRefreshToken(t.slice(0, 42))).toBe(false)
    expect(isWellFormedRefreshToken(t.slice(1))).toBe(false)
    expect(isWellFormedRefreshToken(t + 'A')).toBe(false)
    expect(isWellFormedRefreshToken(t + '=')).toBe(false)
    expect(isWellFormedRefreshToken(`${t}\n`)).toBe(false)
    expect(isWellFormedRefreshToken(` ${t.slice(1)}`)).toBe(false)
    for (const bad of ['+', '/', '=', '.', ' ', '\n', '%', 'é', '\0']) {
      const forged = bad + t.slice(1)
      expect(forged.length).toBe(43)
      expect(isWellFormedRefreshToken(forged)).toBe(false)
      expect(isWellFormedRefreshToken(t.slice(0, 21) + bad + t.slice(22))).toBe(false)
    }
    // standard (non-url) base64 of 32 bytes is not accepted
    expect(isWellFormedRefreshToken(Buffer.alloc(32, 0xfb).toString('base64'))).toBe(false)
    expect(REFRESH_TOKEN_PATTERN.test(t)).toBe(true)
  })
})
