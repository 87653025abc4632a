// Signs and verifies access JWTs through @fastify/jwt, and makes the `authenticate`
// pre-handler. Verification is pinned: one algorithm, one key id, issuer, audience, typ and
// every claim required; every failure is a 401 with a stable code. The protected path reads
// only the token and the in-memory denylist: no database query.
import { randomUUID } from 'node:crypto'
import jwt from '@fastify/jwt'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { ApiError, withBearerChallenge } from './errors.js'
import type { AuthSettings } from './options.js'
import type { JwtAlgorithm } from './keys.js'
import { ACCESS_TOKEN_TYP, parseAccessClaims, type AccessClaims, type SessionClaims } from './auth/access-claims.js'
import { TRANSPORT_HEADER, type Transport } from './http/transport.js'
import { checkCsrf } from './http/csrf.js'
import { insufficientAuthentication, unmetNeeds, type AuthenticationNeeds } from './mfa/methods.js'

export interface AccessTokens {
  sign(subject: { userId: string; email: string; familyId: string; emailVerified: boolean; claims: SessionClaims }): string
  /** the claims, or ApiError(401) unless the token is one we issued and it is still good */
  verify(token: string): AccessClaims
}

export interface Decoded {
  header: { alg?: unknown; kid?: unknown; typ?: unknown }
  payload: unknown
}

interface JwtNamespace {
  sign(payload: object): string
  verify<T>(token: string): T
  decode<T>(token: string, options?: { complete: boolean }): T
}

// When the host already uses @fastify/jwt, ours registers under a namespace of its
// `fastify.jwt` instead of colliding with it.
const NAMESPACE = 'fastifyAuthService'

/**
 * Registers @fastify/jwt for our keys in a context of its own (its request decorators stay
 * there) and returns the signer and verifier.
 */
export async function registerAccessTokens(fastify: FastifyInstance, settings: AuthSettings): Promise<AccessTokens> {
  const { key, previousKeys, issuer, audience, accessTtlSec, includeEmail } = settings.jwt
  const { defaultClient } = settings.clients
  const verifyOptions = (algorithm: JwtAlgorithm) => accessVerifyOptions(algorithm, issuer, audience)
  let current!: JwtNamespace
  const previous = new Map<string, { kid: string; algorithm: string; verify: (token: string) => Decoded }>()
  await fastify.register(async (scope) => {
    const hostHasJwt = scope.hasDecorator('jwt')
    const ns = (name: string) => (hostHasJwt ? { namespace: `${NAMESPACE}${name}` } : name === '' ? {} : { namespace: name })
    const namespaced = (name: string): JwtNamespace => {
      const decorator = scope.jwt as unknown as JwtNamespace & Record<string, JwtNamespace>
      return hostHasJwt || name !== '' ? decorator[hostHasJwt ? `${NAMESPACE}${name}` : name]! : decorator
    }
    await scope.register(jwt, {
      ...ns(''),
      secret: { private: key.signKey, public: key.verifyKey },
      sign: {
        algorithm: key.algorithm,
        kid: key.kid,
        iss: issuer,
        aud: audience,
        expiresIn: accessTtlSec, // seconds, as @fastify/jwt reads a number
        header: { alg: key.algorithm, typ: ACCESS_TOKEN_TYP },
      },
      verify: verifyOptions(key.algorithm),
    })
    current = namespaced('')
    // Retired keys: one verify-only namespace each, pinned to EdDSA like the current key,
    // looked up by the token's kid.
    for (const [i, k] of previousKeys.entries()) {
      const name = `previousKey${i}`
      await scope.register(jwt, { ...ns(name), secret: { public: k.verifyKey }, verify: verifyOptions(k.algorithm) })
      const verifier = namespaced(name)
      previous.set(k.kid, { kid: k.kid, algorithm: k.algorithm, verify: (token) => verifier.verify<Decoded>(token) })
    }
  })

  // The token's kid names a retired key; only read when the current key has refused it, so
  // the common path pays nothing for rotation support.
  const retiredKeyFor = (token: string) => {
    if (previous.size === 0) return undefined
    try {
      const kid = (current.decode<Decoded>(token, { complete: true }) as Decoded | null)?.header.kid
      return typeof kid === 'string' ? previous.get(kid) : undefined
    } catch {
      return undefined
    }
  }

  const verified = new VerifiedTokens(settings.jwt.verifiedCacheSize)
  return {
    // RFC 9068: every token names its client; a session started before clients existed, or by
    // a login that named none, belongs to the default one. The address only when configured.
    sign: ({ userId, email, familyId, emailVerified, claims }) =>
      current.sign({
        ...claims,
        client_id: claims.client_id ?? defaultClient,
        sub: userId,
        sid: familyId,
        ...(includeEmail ? { email } : {}),
        email_verified: emailVerified,
        jti: randomUUID(),
      }),
    verify(token) {
      const known = verified.get(token)
      if (known) return known
      if (!isCompactJws(token)) throw new ApiError('invalid_token')
      const claims = verifyOnce(token)
      verified.set(token, claims)
      return claims
    },
  }

  function verifyOnce(token: string): AccessClaims {
    try {
      return checkedClaims(current.verify<Decoded>(token), key)
    } catch (err) {
      const retired = retiredKeyFor(token)
      if (!retired) throw toApiError(err)
      try {
        return checkedClaims(retired.verify(token), retired)
      } catch (again) {
        throw toApiError(again)
      }
    }
  }
}

/**
 * fast-jwt's options for our access tokens, here and in the resource server: one algorithm,
 * issuer, audience, typ, and every claim we always issue required.
 */
export function accessVerifyOptions(algorithm: JwtAlgorithm, issuer: string, audience: string) {
  return {
    algorithms: [algorithm] as JwtAlgorithm[],
    allowedIss: issuer,
    allowedAud: audience,
    // allowedIss/allowedAud alone let a token without iss/aud/exp through.
    requiredClaims: ['sub', 'sid', 'iat', 'exp', 'iss', 'aud', 'jti', 'email_verified'],
    checkTyp: ACCESS_TOKEN_TYP,
    complete: true as const,
    // Successes are remembered in front of fast-jwt (VerifiedTokens, below), failures never:
    // the plugin's default caches failures for 10 minutes, and a failure must not outlive its cause.
    cache: false,
    errorCacheTTL: 0,
  }
}

/** A verifier's failure as the 401 a client sees: token_expired, or invalid_token for anything else. */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err
  return new ApiError((err as { code?: string }).code === 'FAST_JWT_EXPIRED' ? 'token_expired' : 'invalid_token', undefined, undefined, { cause: err })
}

/** fast-jwt has pinned the algorithm; the key id and the exact claim shape are ours to pin. */
export function checkedClaims(decoded: Decoded, expected: { kid: string; algorithm: string }): AccessClaims {
  if (decoded.header.kid !== expected.kid || decoded.header.alg !== expected.algorithm) throw new ApiError('invalid_token')
  const claims = parseAccessClaims(decoded.payload)
  if (!claims) throw new ApiError('invalid_token')
  return claims
}

/**
 * A compact JWS (RFC 7515 §7.1): three base64url parts, nothing else. Checked before a token
 * is verified. Node's base64 decoder skips characters it does not know, so a space or a `=`
 * slipped into a valid token's signature would verify as a second spelling of it. fast-jwt
 * 6.3 refuses those itself (its decoder checks the alphabet); this holds if it ever stops,
 * now that nothing on the cached path runs a pattern over the Authorization header.
 */
const COMPACT_JWS = /^[\w-]+\.[\w-]+\.[\w-]+$/
export const isCompactJws = (token: string): boolean => COMPACT_JWS.test(token)

/** The characters a remembered token is filed under: the end of its signature, which its holder does not choose. */
const BUCKET_CHARS = 16

/**
 * Tokens whose signature and claims have been verified, by their exact text, until they expire.
 * A client sends the same access token for its whole lifetime, so after the first request a
 * token costs a lookup instead of an Ed25519 verification (about 150 µs here). Only a
 * verified token is remembered, only until its `exp`, and only the very string that was
 * verified matches it: any other token, however close, is verified afresh. The denylist is
 * checked on every request, after this. Bounded: past `max` entries the oldest goes first.
 *
 * Filed under the token's last 16 characters, not its whole text: a Map hashes every
 * character of a new string, about 1 µs for an access token, which was a tenth of what the
 * cached path costs above a bare route. The entry holds the whole token, compared in full.
 * Two verified tokens ending alike (16 characters of a signature: 96 bits) would only take
 * each other's place.
 */
export class VerifiedTokens {
  private readonly entries = new Map<string, { token: string; claims: AccessClaims }>()

  constructor(private readonly max: number) {}

  get(token: string): AccessClaims | undefined {
    const bucket = token.slice(-BUCKET_CHARS)
    const entry = this.entries.get(bucket)
    if (entry === undefined || entry.token !== token) return undefined
    if (entry.claims.exp * 1000 > Date.now()) return entry.claims
    this.entries.delete(bucket)
    return undefined
  }

  set(token: string, claims: AccessClaims): void {
    if (this.max === 0) return
    const bucket = token.slice(-BUCKET_CHARS)
    if (!this.entries.delete(bucket) && this.entries.size >= this.max) this.entries.delete(this.entries.keys().next().value!)
    // One object serves every request with this token: no route may change it for the next.
    this.entries.set(bucket, { token, claims: Object.freeze(claims) })
  }

  get size(): number {
    return this.entries.size
  }
}

export interface Authenticator {
  (request: FastifyRequest, reply: FastifyReply): Promise<void>
}

/** What a route may require of its caller beyond a valid access token. Kept small: one key per requirement. */
export interface Requirements {
  /** the owner has proved the address: the token's `email_verified` claim */
  emailVerified?: boolean
  /** a second factor was used (the token's `amr` has `mfa`): 401 insufficient_user_authentication otherwise (RFC 9470) */
  mfa?: boolean
  /** the session authenticated (or re-authenticated) at most this many seconds ago (the token's `auth_time`) */
  maxAgeSec?: number
}

const REQUIREMENT_KEYS = new Set(['emailVerified', 'mfa', 'maxAgeSec'])

/**
 * `authn.require({...})`: a pre-handler that authenticates (unless an earlier hook already
 * did) and then checks the requirements. Checked when the route is declared: a misspelt
 * requirement must fail the start, not silently let every caller through.
 */
export function makeRequire(authenticate: Authenticator, requirements: Requirements, now: () => number = Date.now): Authenticator {
  if (typeof requirements !== 'object' || requirements === null) throw new TypeError('authn.require() takes an object, e.g. { emailVerified: true }')
  for (const [key, value] of Object.entries(requirements)) {
    if (!REQUIREMENT_KEYS.has(key)) throw new TypeError(`authn.require(): unknown requirement "${key}" (known: ${[...REQUIREMENT_KEYS].join(', ')})`)
    if (key === 'maxAgeSec') {
      if (!Number.isInteger(value) || (value as number) < 0) throw new TypeError('authn.require(): maxAgeSec must be a whole number of seconds, 0 or more')
    } else if (typeof value !== 'boolean') throw new TypeError(`authn.require(): ${key} must be true or false`)
  }
  const { emailVerified = false, mfa = false, maxAgeSec } = requirements
  const needs: AuthenticationNeeds | null = mfa || maxAgeSec !== undefined ? { mfa, ...(maxAgeSec !== undefined ? { maxAgeSec } : {}) } : null
  return async function requireAuthn(request, reply) {
    if (request.authn === null) await authenticate(request, reply)
    if (emailVerified && request.authn!.email_verified !== true) throw new ApiError('email_not_verified')
    const missing = needs && unmetNeeds(request.authn!, needs, now())
    if (missing) {
      // On a host's route our error handler does not run: the challenge goes on the reply here.
      const err = insufficientAuthentication(missing)
      reply.header('www-authenticate', err.wwwAuthenticate!)
      throw err
    }
  }
}

/**
 * The pre-handler for protected routes, the plugin's and the host's: a valid access token of
 * a session that is not revoked (the in-memory denylist), or 401 with a Bearer challenge.
 * Claims land on `request.authn`. A state-changing request authenticated by the access cookie
 * must also pass the CSRF check (src/http/csrf.ts), on the host's routes as on ours.
 */
export function makeAuthenticate(deps: {
  tokens: Pick<AccessTokens, 'verify'>
  transport: Pick<Transport, 'readAccessToken'>
  /** throws the ApiError that refuses these claims: session_revoked (the denylist), or a resource server's own */
  check(claims: AccessClaims): void
  allowedOrigins: ReadonlySet<string>
}): Authenticator {
  const { tokens, transport, check, allowedOrigins } = deps
  return async function authenticate(request, reply) {
    let claims: AccessClaims
    try {
      const token = transport.readAccessToken(request)
      if (token === null) throw new ApiError('unauthorized')
      claims = tokens.verify(token)
      check(claims)
    } catch (err) {
      const challenged = withBearerChallenge(err)
      // On a host's route our error handler does not run: the headers go on the reply here.
      if (challenged instanceof ApiError && challenged.wwwAuthenticate) reply.header('www-authenticate', challenged.wwwAuthenticate)
      if (challenged instanceof ApiError && challenged.retryAfterSec !== undefined) reply.header('retry-after', String(challenged.retryAfterSec))
      throw challenged
    }
    if (request.headers.authorization === undefined) {
      const verdict = checkCsrf({
        method: request.method,
        transportHeader: request.headers[TRANSPORT_HEADER] as string | undefined,
        authorization: undefined,
        hasAuthCookie: true,
        origin: request.headers.origin,
        secFetchSite: request.headers['sec-fetch-site'] as string | undefined,
        selfOrigin: `${request.protocol}://${request.host}`,
        allowedOrigins,
      })
      if (!verdict.ok) throw new ApiError('csrf_rejected', verdict.reason)
    }
    request.authn = claims
  }
}
