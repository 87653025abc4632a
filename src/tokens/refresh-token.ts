// Refresh tokens are 256 random bits, base64url, opaque to clients. Only their SHA-256 is
// stored. A child is derived from its parent with a server-held key, so a benign replay of
// the parent can be answered with the very same child without ever storing it.
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto'

const TOKEN_BYTES = 32
/** base64url of 32 bytes, without padding */
export const REFRESH_TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/

export function newRefreshToken(): string {
  return randomBytes(TOKEN_BYTES).toString('base64url')
}

export function hashRefreshToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex')
}

export function deriveChildToken(parent: string, secret: Buffer): string {
  return createHmac('sha256', secret).update('refresh-child\0').update(parent, 'utf8').digest('base64url')
}

export function isWellFormedRefreshToken(token: string): boolean {
  return REFRESH_TOKEN_PATTERN.test(token)
}

export function sameHash(a: string, b: string): boolean {
  return a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b))
}
