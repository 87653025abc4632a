// Checks on configured secrets. Pure functions so each rule has its own test.
import { createPublicKey } from 'node:crypto'

const PLACEHOLDERS = ['secret', 'changeme', 'change-me', 'password', 'test', 'example', 'default', 'jwt']

/** null when the secret is acceptable, otherwise why it is not */
export function weakSecretReason(secret: string): string | null {
  if (Buffer.byteLength(secret, 'utf8') < 32) return 'shorter than 32 bytes'
  if (new Set(secret).size < 12) return 'too few distinct characters to be random'
  const lower = secret.toLowerCase()
  if (PLACEHOLDERS.some((p) => lower.includes(p))) return 'contains a placeholder word'
  return null
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
    } catch {
      // not JSON: fall through
    }
  }
  if (/^[A-Za-z0-9+/=_-]+$/.test(text) && text.length >= 40) {
    const der = Buffer.from(text, /[-_]/.test(text) ? 'base64url' : 'base64')
    try {
      createPublicKey({ key: der, format: 'der', type: 'spki' })
      return true
    } catch {
      // not DER SPKI
    }
  }
  return false
}
