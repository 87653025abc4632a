// Access-token signing keys: the current one (Ed25519 by default, or an HS256 shared secret)
// and the public keys of retired ones, checked the way RFC 8725 asks: one algorithm per key,
// key types kept apart, nothing private where only public keys belong.
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto'
import { looksLikePublicKey, weakSecretReason } from './secrets.js'
import type { SigningKeyOption } from './options.js'

export type JwtAlgorithm = 'EdDSA' | 'HS256'

export interface SigningKey {
  kid: string
  algorithm: JwtAlgorithm
  /** PEM (EdDSA) or the shared secret (HS256) */
  signKey: string
  /** PEM public key (EdDSA) or the shared secret (HS256) */
  verifyKey: string
  /** public JWK for the JWKS; null for HS256, whose key must stay secret */
  jwk: Record<string, unknown> | null
}

/** A retired signing key whose tokens are still accepted until they expire (key rotation). */
export interface PreviousKey {
  kid: string
  algorithm: 'EdDSA'
  /** PEM public key */
  verifyKey: string
  /** as published in the JWKS */
  jwk: Record<string, unknown>
}

export function signingKeyFrom(option: SigningKeyOption, production: boolean, fail: (message: string) => void): SigningKey | null {
  if (typeof option !== 'object' || option === null) {
    fail('must be { kid, privateKey } (Ed25519) or { kid, algorithm: "HS256", secret }')
    return null
  }
  if (typeof option.kid !== 'string' || option.kid === '') {
    fail('needs a kid (the key id put in every token header and the JWKS)')
    return null
  }
  if (option.algorithm === 'HS256') {
    const secret = option.secret
    if (typeof secret !== 'string' || secret === '') {
      fail('HS256 needs a secret (32+ random bytes)')
      return null
    }
    // With HS256 any string becomes an HMAC key; a public key here would let anyone who
    // can read it mint tokens (the algorithm-confusion class of bug).
    if (looksLikePublicKey(secret)) {
      fail('the HS256 secret looks like a public key; HS256 needs a random shared secret')
      return null
    }
    const weak = weakSecretReason(secret)
    if (weak && production) {
      fail(`the HS256 secret is too weak: ${weak}`)
      return null
    }
    return { kid: option.kid, algorithm: 'HS256', signKey: secret, verifyKey: secret, jwk: null }
  }
  if (option.algorithm !== undefined && option.algorithm !== 'EdDSA') {
    fail(`algorithm must be EdDSA or HS256 (got ${String(option.algorithm)})`)
    return null
  }
  let priv: KeyObject
  try {
    const key = option.privateKey
    priv = typeof key === 'string' ? createPrivateKey(key.replace(/\\n/g, '\n')) : key
    if (priv?.type !== 'private') throw new Error('not private')
  } catch {
    fail('privateKey is not a PEM private key (or a private KeyObject)')
    return null
  }
  if (priv.asymmetricKeyType !== 'ed25519') {
    fail(`privateKey must be an Ed25519 key for EdDSA (got ${priv.asymmetricKeyType})`)
    return null
  }
  const pub = createPublicKey(priv)
  return {
    kid: option.kid,
    algorithm: 'EdDSA',
    signKey: priv.export({ type: 'pkcs8', format: 'pem' }).toString(),
    verifyKey: pub.export({ type: 'spki', format: 'pem' }).toString(),
    jwk: { ...pub.export({ format: 'jwk' }), kid: option.kid, alg: 'EdDSA', use: 'sig' },
  }
}

/**
 * The public keys of signing keys this deployment has retired, as a JWKS (what the JWKS
 * published while each was current). Tokens they signed verify until they expire, and
 * verifiers elsewhere keep finding them in our JWKS; after one access-token lifetime they can
 * go. Public keys only: a private part here is refused.
 */
export function previousKeysFromJwks(doc: unknown, current: SigningKey, fail: (message: string) => void): PreviousKey[] {
  const refuse = (why: string): PreviousKey[] => {
    fail(why)
    return []
  }
  if (current.algorithm !== 'EdDSA') return refuse('lists Ed25519 public keys, so it applies with EdDSA only')
  const keys = (doc as { keys?: unknown } | null)?.keys
  if (!Array.isArray(keys)) return refuse('expected a JWKS, {"keys":[…]}')
  const out: PreviousKey[] = []
  for (const [i, entry] of keys.entries()) {
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return refuse(`key ${i} is not a JWK object`)
    const k = entry as Record<string, unknown>
    if ('d' in k) return refuse(`key ${i} holds a private key ("d"); give only public keys, as the JWKS publishes them`)
    if (k.kty !== 'OKP' || k.crv !== 'Ed25519' || typeof k.x !== 'string') return refuse(`key ${i} is not an Ed25519 public key (kty OKP, crv Ed25519, x)`)
    if (k.alg !== undefined && k.alg !== 'EdDSA') return refuse(`key ${i} is for ${String(k.alg)}, not EdDSA`)
    if (typeof k.kid !== 'string' || k.kid === '') return refuse(`key ${i} has no kid`)
    if (k.kid === current.kid) return refuse(`key ${i} has the current key's kid (${k.kid}); each key needs its own`)
    if (out.some((o) => o.kid === k.kid)) return refuse(`kid ${k.kid} appears twice`)
    let pub: KeyObject
    try {
      pub = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: k.x }, format: 'jwk' })
    } catch {
      return refuse(`key ${i} (${k.kid}) is not a valid Ed25519 key`)
    }
    out.push({
      kid: k.kid,
      algorithm: 'EdDSA',
      verifyKey: pub.export({ type: 'spki', format: 'pem' }).toString(),
      jwk: { kty: 'OKP', crv: 'Ed25519', x: k.x, kid: k.kid, alg: 'EdDSA', use: 'sig' },
    })
  }
  return out
}
