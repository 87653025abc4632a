// The login proof of work: after repeated failed logins of an account from anywhere, the
// server answers 401 proof_of_work_required with `challenge` and `difficulty`, and the login
// is sent again with `proof: {challenge, nonce}`, where
//   SHA-256(challenge + "." + hex(SHA-256(NFC(password))) + "." + nonce)
// starts with `difficulty` zero bits. About a second of a browser's time at the server's
// default cap; the work is bound to the password, so each guess costs its own.
import { AuthError } from './errors.js'

/** Beyond this a challenge is not attempted (each bit doubles the work; 24 is the server's bound). */
export const MAX_PROOF_OF_WORK_BITS = 24

// Digests requested at once: WebCrypto answers each with a promise, and one at a time spends
// most of the time waiting on them (measured in Node: ~38k hashes/s alone, ~110k in 256s).
const BATCH = 256

export interface ProofOfWorkChallenge {
  challenge: string
  difficulty: number
}

/** The challenge in a 401 body, or null when the body is another error. */
export function readChallenge(body: unknown): ProofOfWorkChallenge | null {
  if (typeof body !== 'object' || body === null) return null
  const b = body as Record<string, unknown>
  if (b.error !== 'proof_of_work_required' || typeof b.challenge !== 'string' || typeof b.difficulty !== 'number') return null
  return { challenge: b.challenge, difficulty: b.difficulty }
}

/** A nonce that solves `challenge` at `difficulty` for this password. */
export async function solveProofOfWork(challenge: string, difficulty: number, password: string): Promise<string> {
  if (!Number.isInteger(difficulty) || difficulty < 0 || difficulty > MAX_PROOF_OF_WORK_BITS) {
    throw new AuthError('rejected', 'proof_of_work_required', `the server asked for a proof of ${difficulty} bits, more than this client attempts`, 401)
  }
  const subtle = (globalThis as { crypto?: Crypto }).crypto?.subtle
  if (!subtle) {
    // Browsers offer WebCrypto on https and localhost only.
    throw new AuthError('rejected', 'proof_of_work_unsupported', 'this login needs a proof of work, and WebCrypto (crypto.subtle) is not available here', 401)
  }
  const encoder = new TextEncoder()
  const passwordHash = toHex(await subtle.digest('SHA-256', encoder.encode(password.normalize('NFC'))))
  const prefix = `${challenge}.${passwordHash}.`
  for (let start = 0; ; start += BATCH) {
    const nonces = Array.from({ length: BATCH }, (_, i) => (start + i).toString(36))
    const hashes = await Promise.all(nonces.map((n) => subtle.digest('SHA-256', encoder.encode(prefix + n))))
    const found = hashes.findIndex((h) => leadingZeroBits(new Uint8Array(h)) >= difficulty)
    if (found >= 0) return nonces[found]!
  }
}

function leadingZeroBits(bytes: Uint8Array): number {
  let n = 0
  for (const byte of bytes) {
    if (byte !== 0) return n + Math.clz32(byte) - 24
    n += 8
  }
  return n
}

function toHex(buf: ArrayBuffer): string {
  return Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, '0')).join('')
}
