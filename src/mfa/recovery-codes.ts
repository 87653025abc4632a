// Recovery codes: ten per account, shown once, each good for one login or step-up in place of
// the authenticator app. 50 random bits each (ten characters of a 32-letter alphabet without
// look-alikes), so a keyed hash is enough to store them: nobody can guess one, and a copy of
// the table is useless without the key.
import { createHmac, randomBytes } from 'node:crypto'

export const RECOVERY_CODE_COUNT = 10
// Crockford's base32 alphabet: no I, L, O or U to misread.
const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz'

/** `xxxxx-xxxxx`, lower case. */
export function newRecoveryCode(): string {
  const bytes = randomBytes(10)
  let code = ''
  for (const b of bytes) code += ALPHABET[b & 31]
  return `${code.slice(0, 5)}-${code.slice(5)}`
}

export function newRecoveryCodes(n = RECOVERY_CODE_COUNT): string[] {
  return Array.from({ length: n }, newRecoveryCode)
}

/** What the user typed, as stored: case, spaces and dashes do not matter; look-alikes read as Crockford says. */
export function normaliseRecoveryCode(typed: string): string | null {
  const clean = typed
    .toLowerCase()
    .replace(/[\s-]/g, '')
    .replace(/[o]/g, '0')
    .replace(/[il]/g, '1')
  return /^[0-9a-hjkmnp-tv-z]{10}$/.test(clean) ? clean : null
}

/** HMAC-SHA256 of the normalised code, bound to its account. */
export function recoveryCodeHash(key: Buffer, userId: string, normalised: string): string {
  return createHmac('sha256', key).update(`recovery-code-v1\n${userId}\n${normalised}`, 'utf8').digest('hex')
}
