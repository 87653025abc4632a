// Encryption of the TOTP secrets at rest: AES-256-GCM under the server's MFA key, with the
// owner's user id as associated data, so a ciphertext copied onto another account's row does
// not decrypt. Format: `v1.<iv>.<ciphertext>.<tag>`, each base64url; the version leaves room
// for another key or cipher later.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'

const VERSION = 'v1'

export function seal(key: Buffer, plaintext: Buffer, associated: string): string {
  const iv = randomBytes(12)
  const cipher = createCipheriv('aes-256-gcm', key, iv)
  cipher.setAAD(Buffer.from(associated, 'utf8'))
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()])
  return [VERSION, iv, body, cipher.getAuthTag()].map((p) => (typeof p === 'string' ? p : p.toString('base64url'))).join('.')
}

/** The plaintext, or null for anything that was not sealed by this key for this owner. */
export function open(key: Buffer, sealed: string, associated: string): Buffer | null {
  const parts = sealed.split('.')
  if (parts.length !== 4 || parts[0] !== VERSION) return null
  const [iv, body, tag] = parts.slice(1).map((p) => Buffer.from(p, 'base64url'))
  if (iv!.length !== 12 || tag!.length !== 16) return null
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, iv!)
    decipher.setAAD(Buffer.from(associated, 'utf8'))
    decipher.setAuthTag(tag!)
    return Buffer.concat([decipher.update(body!), decipher.final()])
  } catch {
    return null
  }
}
