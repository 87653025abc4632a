// RFC 6238 time-based one-time passwords on RFC 4226 HOTP, as authenticator apps compute them:
// HMAC-SHA1, 30-second steps from the Unix epoch, 6 digits. Pure functions of a secret and a
// clock; which step was last accepted is the store's (a code is accepted once).
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'

export const TOTP_PERIOD_SEC = 30
export const TOTP_DIGITS = 6
/** Steps either side of the current one a code may come from (clock drift, typing time). */
export const TOTP_SKEW_STEPS = 1
/** 160 bits: RFC 4226 §4 recommends it, and every authenticator app takes it. */
export const TOTP_SECRET_BYTES = 20

export function newTotpSecret(): Buffer {
  return randomBytes(TOTP_SECRET_BYTES)
}

/** RFC 4226 §5.3: HOTP(K, C), dynamic truncation, `digits` decimal digits. */
export function hotp(secret: Buffer, counter: bigint, digits = TOTP_DIGITS): string {
  const message = Buffer.alloc(8)
  message.writeBigUInt64BE(counter)
  const mac = createHmac('sha1', secret).update(message).digest()
  const offset = mac[mac.length - 1]! & 0x0f
  const binary = (mac.readUInt32BE(offset) & 0x7fffffff) % 10 ** digits
  return binary.toString().padStart(digits, '0')
}

/** RFC 6238 §4.2: the time step T of an instant (ms since the epoch). */
export function totpStep(nowMs: number, periodSec = TOTP_PERIOD_SEC): bigint {
  return BigInt(Math.floor(nowMs / 1000 / periodSec))
}

/** The code for an instant. */
export function totp(secret: Buffer, nowMs: number, digits = TOTP_DIGITS): string {
  return hotp(secret, totpStep(nowMs), digits)
}

/**
 * The step whose code `code` is, among the current step and TOTP_SKEW_STEPS either side, and
 * only if it is later than `lastUsedStep` (a code accepted once is never accepted again, and
 * neither is an older one); null otherwise. Every candidate is compared, in constant time, so
 * the answer's timing says nothing about which one matched.
 */
export function matchTotp(secret: Buffer, code: string, nowMs: number, lastUsedStep: bigint): bigint | null {
  if (!/^[0-9]{6}$/.test(code)) return null
  const current = totpStep(nowMs)
  const given = Buffer.from(code)
  let found: bigint | null = null
  for (let d = -TOTP_SKEW_STEPS; d <= TOTP_SKEW_STEPS; d++) {
    const step = current + BigInt(d)
    if (step < 0n) continue
    const same = timingSafeEqual(Buffer.from(hotp(secret, step)), given)
    if (same && step > lastUsedStep && found === null) found = step
  }
  return found
}

// RFC 4648 base32, as otpauth:// URIs carry the secret (no padding, upper case).
const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'

export function base32Encode(bytes: Buffer): string {
  let bits = 0
  let value = 0
  let out = ''
  for (const byte of bytes) {
    value = (value << 8) | byte
    bits += 8
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31]
      bits -= 5
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31]
  return out
}

export function base32Decode(text: string): Buffer {
  const clean = text.toUpperCase().replace(/[\s=-]/g, '')
  let bits = 0
  let value = 0
  const out: number[] = []
  for (const ch of clean) {
    const i = BASE32.indexOf(ch)
    if (i === -1) throw new TypeError('not base32')
    value = (value << 5) | i
    bits += 5
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff)
      bits -= 8
    }
  }
  return Buffer.from(out)
}

/**
 * The otpauth:// URI authenticator apps read from the QR code (the Key URI Format of Google
 * Authenticator, which the other apps follow): the issuer both in the label and as a parameter.
 */
export function otpauthUri(args: { issuer: string; account: string; secret: Buffer }): string {
  const label = `${encodeURIComponent(args.issuer)}:${encodeURIComponent(args.account)}`
  const query = new URLSearchParams({
    secret: base32Encode(args.secret),
    issuer: args.issuer,
    algorithm: 'SHA1',
    digits: String(TOTP_DIGITS),
    period: String(TOTP_PERIOD_SEC),
  })
  return `otpauth://totp/${label}?${query.toString().replace(/\+/g, '%20')}`
}
