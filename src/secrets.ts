// Checks on configured secrets. Pure functions so each rule has its own test.
import { createPublicKey } from 'node:crypto'

const PLACEHOLDERS = ['secret', 'changeme', 'change-me', 'password', 'test', 'example', 'default', 'jwt']

/** null when the secret is acceptable, otherwise why it is not */
export function weakSecretReason(secret: string): string | null {
  const shape = shapeProblem(secret)
  if (shape) return shape
  if (PLACEHOLDERS.some((p) => writtenAsWord(secret, p))) return 'contains a placeholder word'
  const rest = PLACEHOLDERS.reduce((s, p) => s.replace(new RegExp(p, 'gi'), ''), secret)
  if (shapeProblem(rest)) return 'contains a placeholder word'
  return null
}

function shapeProblem(secret: string): string | null {
  if (Buffer.byteLength(secret, 'utf8') < 32) return 'shorter than 32 bytes'
  if (new Set(secret).size < 12) return 'too few distinct characters to be random'
  return null
}

// A placeholder as a person writes one (lower case, upper case or capitalised, at either end of
// the secret or beside a separator), or one the secret would be weak without. A word merely
// spelled somewhere inside random characters is chance: "jwt" is in about one base64 secret in
// 800 (openssl rand -base64 32), and as a word it matches about one in 20 000 (2 million drawn).
function writtenAsWord(secret: string, word: string): boolean {
  const forms = [word, word.toUpperCase(), word[0]!.toUpperCase() + word.slice(1)].join('|')
  return new RegExp(`(^|[^A-Za-z0-9])(${forms})|(${forms})([^A-Za-z0-9]|$)`).test(secret)
}

/**
 * True for anything a key parser accepts as a public key (PEM, with stray leading bytes,
 * base64 DER, JWK, OpenSSH), or that carries a PEM/SSH marker at all.
 */
export function looksLikePublicKey(value: string): boolean {
  const text = value.trim()
  if (/-----BEGIN [A-Z ]*(PUBLIC KEY|CERTIFICATE)-----/.test(value)) return true
  if (/^(ssh-(rsa|ed25519|dss)|ecdsa-sha2-)/.test(text)) return true
  if (text.startsWith('{')) {
    try {
      const jwk = JSON.parse(text) as Record<string, unknown>
      if (typeof jwk.kty === 'string') return true
      // A JWKS document, e.g. a copy of /.well-known/jwks.json.
      if (Array.isArray(jwk.keys) && jwk.keys.some((k) => typeof (k as Record<string, unknown>)?.kty === 'string')) return true
    } catch {
      // not JSON: fall through
    }
  }
  // A PEM body pasted without its BEGIN/END lines may still be split over several lines.
  const compact = text.replace(/\s+/g, '')
  if (/^[A-Za-z0-9+/=_-]+$/.test(compact) && compact.length >= 40) {
    const der = Buffer.from(compact, /[-_]/.test(compact) ? 'base64url' : 'base64')
    try {
      createPublicKey({ key: der, format: 'der', type: 'spki' })
      return true
    } catch {
      // not DER SPKI
    }
  }
  return false
}
