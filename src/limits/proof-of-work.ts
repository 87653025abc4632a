// The per-account ceiling on failed logins, as pure functions: when a login for an address
// needs a proof of work, how hard it is, and whether a proof is valid.
//
// Failures are counted per account across every client address (the per-address lock in
// policy.ts cannot see a guesser spread over many addresses). Past `afterFailures` of them,
// a login needs a proof of work; never a lock, so nobody can keep the owner out, only make
// each guess cost work. The difficulty grows by one bit (twice the work) each time the
// failures double, up to `maxBits`, which an honest browser solves in about a second.
//
// A challenge is stateless: an HMAC under a server key over the account key, its expiry, its
// difficulty and a random part, so any instance can check it and none has to store it. A
// solution is a `nonce` such that
//   SHA-256(challenge + "." + hex(SHA-256(NFC(password))) + "." + nonce)
// starts with `difficulty` zero bits. The password is in it, so a solution is good for one
// guess only; single use of the proof itself is enforced by the caller (account-ceiling.ts).
import { createHash, createHmac, timingSafeEqual } from 'node:crypto'

export interface ProofOfWorkPolicy {
  /** failures of one account, from all addresses, before a proof is required */
  afterFailures: number
  /** difficulty at the threshold, in leading zero bits */
  baseBits: number
  /** the cap */
  maxBits: number
  /** how long a challenge can be answered */
  challengeTtlSec: number
}

export interface Proof {
  challenge: string
  nonce: string
}

/** Leading zero bits needed on top of `failures` failures; 0 when no proof is needed. */
export function requiredBits(failures: number, p: ProofOfWorkPolicy): number {
  if (failures < p.afterFailures) return 0
  // floor(log2(failures / afterFailures)) without floating-point surprises at exact powers of 2
  let doublings = 0
  while (p.afterFailures * 2 ** (doublings + 1) <= failures && doublings < 64) doublings++
  return Math.min(p.baseBits + doublings, p.maxBits)
}

/**
 * The other side of requiredBits: an attempt with a proof of `bits` (0: none) may go on while
 * the account has fewer failures than this. For every f: f < attemptsBelow(b) exactly when
 * requiredBits(f) <= b. The store applies it in the same statement that counts the attempt,
 * so parallel attempts cannot all pass on one stale count.
 */
export function failuresAllowedBelow(bits: number, p: ProofOfWorkPolicy): number {
  if (bits >= p.maxBits) return Number.MAX_SAFE_INTEGER
  if (bits < p.baseBits) return p.afterFailures
  return p.afterFailures * 2 ** (bits - p.baseBits + 1)
}

/** The difficulty of the challenge to hand out: what is needed now, and always more than what was shown. */
export function challengeBits(failures: number, shownBits: number, p: ProofOfWorkPolicy): number {
  return Math.min(p.maxBits, Math.max(requiredBits(failures, p), p.baseBits, shownBits + 1))
}

const FORMAT = /^v1\.(\d{1,12})\.(\d{1,2})\.([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$/

function mac(key: Buffer, accountKey: string, expiresAtSec: number, bits: number, random: string): string {
  return createHmac('sha256', key).update(`login-pow-v1\n${accountKey}\n${expiresAtSec}\n${bits}\n${random}`).digest('base64url')
}

/**
 * `v1.<expiry, unix s>.<difficulty>.<random>.<mac>`. `random` (16 random bytes, base64url)
 * makes every challenge different, so no work can be done before one is handed out.
 */
export function issueChallenge(key: Buffer, accountKey: string, bits: number, nowSec: number, random: string, p: ProofOfWorkPolicy): string {
  const expiresAtSec = nowSec + p.challengeTtlSec
  return `v1.${expiresAtSec}.${bits}.${random}.${mac(key, accountKey, expiresAtSec, bits, random)}`
}

export interface CheckedProof {
  /** the difficulty proven; 0 when the proof is not valid for this account, password and time */
  bits: number
  /** when the challenge expires (unix s); a spent proof must be remembered until then */
  expiresAtSec: number
}

/** Whether `proof` is a solution, for this account and this password, of a live challenge we issued. */
export function checkProof(key: Buffer, accountKey: string, proof: Proof, password: string, nowSec: number, p: ProofOfWorkPolicy): CheckedProof {
  const invalid = { bits: 0, expiresAtSec: 0 }
  const m = FORMAT.exec(proof.challenge)
  if (!m) return invalid
  const expiresAtSec = Number(m[1])
  const bits = Number(m[2])
  const expected = Buffer.from(mac(key, accountKey, expiresAtSec, bits, m[3]!))
  const given = Buffer.from(m[4]!)
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return invalid
  if (expiresAtSec <= nowSec || expiresAtSec > nowSec + p.challengeTtlSec) return invalid
  if (leadingZeroBits(proofHash(proof.challenge, password, proof.nonce)) < bits) return invalid
  return { bits, expiresAtSec }
}

/** SHA-256(challenge + "." + hex(SHA-256(NFC(password))) + "." + nonce) */
export function proofHash(challenge: string, password: string, nonce: string): Buffer {
  const passwordHash = createHash('sha256').update(password.normalize('NFC'), 'utf8').digest('hex')
  return createHash('sha256').update(`${challenge}.${passwordHash}.${nonce}`, 'utf8').digest()
}

export function leadingZeroBits(bytes: Uint8Array): number {
  let n = 0
  for (const byte of bytes) {
    if (byte !== 0) return n + Math.clz32(byte) - 24
    n += 8
  }
  return n
}
