// What a mail carries to prove that its reader holds the address: a link token (256 random
// bits, stored as its SHA-256) and a short code for typing on a phone (6 digits, stored as an
// HMAC under a server key and bound to its row, and guessed only a few times before it dies).
import { createHash, createHmac, randomBytes, randomInt, timingSafeEqual } from 'node:crypto'

export const CODE_DIGITS = 6

export function newLinkToken(): string {
  return randomBytes(32).toString('base64url')
}

export function hashLinkToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex')
}

export function newCode(): string {
  return String(randomInt(0, 10 ** CODE_DIGITS)).padStart(CODE_DIGITS, '0')
}

export function hashCode(key: Buffer, rowId: string, code: string): string {
  return createHmac('sha256', key).update(`${rowId}\n${code}`, 'utf8').digest('hex')
}

export function codeMatches(key: Buffer, rowId: string, code: string, stored: string): boolean {
  const expected = Buffer.from(hashCode(key, rowId, code), 'hex')
  const actual = Buffer.from(stored, 'hex')
  return actual.length === expected.length && timingSafeEqual(actual, expected)
}

/** The page with the token as its `token` query parameter (any other parameter kept); null without a page. */
export function linkTo(page: string | null, token: string): string | null {
  if (page === null) return null
  const url = new URL(page)
  url.searchParams.set('token', token)
  return url.toString()
}
