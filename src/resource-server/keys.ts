// The auth service's public keys, from its JWKS: fetched at register, refreshed every few
// minutes and whenever the feed reconnects (a restarted service may have rotated its key), and
// refetched when a token or an event names an unknown kid, at most once per
// `minRefetchIntervalMs`, so forged kids cannot make it hammer the auth service. Only Ed25519
// keys for EdDSA are taken; verification is pinned to that algorithm and to the key's kid.
import { createPublicKey, type KeyObject } from 'node:crypto'
import { createVerifier } from 'fast-jwt'
import { accessVerifyOptions, type Decoded } from '../access-tokens.js'

export interface RemoteKey {
  kid: string
  publicKey: KeyObject
  /** fast-jwt, pinned to EdDSA, issuer, audience, typ at+jwt and the required claims */
  verifyAccessToken(token: string): Decoded
}

export interface RemoteKeysOptions {
  jwksUri: string
  issuer: string
  audience: string
  minRefetchIntervalMs: number
  get(url: string): Promise<unknown>
  log: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void }
}

export class RemoteKeys {
  private keys = new Map<string, RemoteKey>()
  private lastFetch = 0
  private fetching: Promise<void> | null = null
  /** JWKS requests made (tests count them) */
  fetches = 0

  constructor(private readonly opts: RemoteKeysOptions) {}

  get(kid: unknown): RemoteKey | undefined {
    return typeof kid === 'string' ? this.keys.get(kid) : undefined
  }

  get kids(): string[] {
    return [...this.keys.keys()]
  }

  /** Fetches the JWKS now (one request at a time); the key set is replaced, so retired keys go. */
  refresh(): Promise<void> {
    this.fetching ??= this.fetchOnce().finally(() => {
      this.fetching = null
    })
    return this.fetching
  }

  /**
   * The key for `kid`; an unknown kid refetches the JWKS unless that was done less than
   * `minRefetchIntervalMs` ago. Never throws: an unreachable service leaves the keys as they were.
   */
  async find(kid: unknown): Promise<RemoteKey | undefined> {
    const known = this.get(kid)
    if (known || typeof kid !== 'string') return known
    if (this.fetching) await this.fetching.catch(() => undefined)
    else if (Date.now() - this.lastFetch >= this.opts.minRefetchIntervalMs) await this.refresh().catch(() => undefined)
    return this.get(kid)
  }

  private async fetchOnce(): Promise<void> {
    this.lastFetch = Date.now()
    this.fetches++
    const doc = await this.opts.get(this.opts.jwksUri)
    const next = new Map<string, RemoteKey>()
    const entries = (doc as { keys?: unknown } | null)?.keys
    for (const jwk of Array.isArray(entries) ? entries : []) {
      const key = this.accept(jwk)
      // A kid listed twice names no key for sure: the first is kept, as the current key is listed first.
      if (key && !next.has(key.kid)) next.set(key.kid, key)
    }
    if (next.size === 0) {
      this.opts.log.warn({ jwksUri: this.opts.jwksUri }, 'the JWKS holds no Ed25519 key for EdDSA; keeping the keys we had')
      return
    }
    const added = [...next.keys()].filter((k) => !this.keys.has(k))
    if (added.length > 0 && this.keys.size > 0) this.opts.log.info({ kids: added }, 'new signing keys from the JWKS')
    this.keys = next
  }

  // RFC 8725: one algorithm per key, key types kept apart. Anything else in the set is skipped.
  private accept(jwk: unknown): RemoteKey | null {
    if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) return null
    const k = jwk as Record<string, unknown>
    if (k.kty !== 'OKP' || k.crv !== 'Ed25519' || k.alg !== 'EdDSA' || typeof k.x !== 'string' || 'd' in k) return null
    if (k.use !== undefined && k.use !== 'sig') return null
    if (typeof k.kid !== 'string' || k.kid === '') return null
    let publicKey: KeyObject
    try {
      publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: k.x }, format: 'jwk' })
    } catch {
      return null
    }
    const verify = createVerifier({ key: publicKey.export({ type: 'spki', format: 'pem' }).toString(), ...accessVerifyOptions('EdDSA', this.opts.issuer, this.opts.audience) })
    return { kid: k.kid, publicKey, verifyAccessToken: (token) => verify(token) as Decoded }
  }
}
