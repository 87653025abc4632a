// The resource-server plugin, for a service in another process that trusts the auth service's
// access tokens:
//
//   import resourceServer from 'fastify-auth-service/resource-server'
//   await app.register(resourceServer, { issuer: 'https://api.example.com/auth', clientId, clientSecret })
//   app.get('/orders', { onRequest: app.authn.authenticate }, async (req) => ordersOf(req.authn!.sub))
//
// At register it reads the auth service's metadata (RFC 8414) and JWKS, then subscribes to the
// revocation feed. Each protected request is answered from memory: the token verified against
// the cached keys (algorithm pinned to the key's, typ, iss, aud and every claim checked, the
// same codes and challenge as the in-process plugin), its session looked up among the revoked
// ones the feed delivered. No request goes to the auth service per call, and no database is
// touched. Fail-closed: before the first sync, and once the feed has been silent longer than
// `maxStalenessSec`, valid tokens get 503 service_unavailable with Retry-After (never a 401,
// which a client would take for a logout), unless `whenStale: 'accept'`.
import fp from 'fastify-plugin'
import type { FastifyPluginAsync } from 'fastify'
import { ApiError } from '../errors.js'
import { checkedClaims, isCompactJws, makeAuthenticate, makeRequire, toApiError, VerifiedTokens, type Requirements } from '../access-tokens.js'
import { bearerToken } from '../http/transport.js'
import type { AccessClaims } from '../auth/access-claims.js'
import type { AuthnVerifier, FastifyAuthn } from '../authn.js'
import { DEFAULT_AUDIENCE } from '../options.js'
import { basicAuthorization } from '../oauth/clients.js'
import { WELL_KNOWN_OAUTH } from '../oauth/metadata.js'
import { RemoteKeys } from './keys.js'
import { Revocations } from './revocations.js'
import { FeedClient } from './feed-client.js'

export interface ResourceServerOptions {
  /** the auth service's issuer, as its metadata names it (the standalone service: its URL plus /auth) */
  issuer: string
  /** this service's confidential client (the auth service's OAUTH_CLIENTS) */
  clientId: string
  clientSecret: string
  /** the `aud` tokens must carry; default the auth service's default, fastify-auth-api */
  audience?: string
  /** past this long without a sync from the feed, valid tokens are answered 503 (default 60) */
  maxStalenessSec?: number
  /** 'refuse' (default): fail closed past the staleness bound; 'accept': go on with what is known */
  whenStale?: 'refuse' | 'accept'
  /** plain http to the auth service (development only: the client secret would travel in clear) */
  allowHttp?: boolean
  timeouts?: {
    /** each request to the auth service (metadata, JWKS, opening the feed); default 5000 */
    requestMs?: number
    /** the feed silent this long is reconnected; default 15000 (the service sends a sync every 5 s) */
    heartbeatMs?: number
  }
  keys?: {
    /** the JWKS is fetched again this often, to follow rotation (default 300) */
    refreshIntervalSec?: number
    /** an unknown kid refetches the JWKS at most this often (default 10) */
    minRefetchIntervalSec?: number
  }
  /** verified tokens remembered until they expire (default 10000; 0: none) */
  verifiedCacheSize?: number
}

const resourceServer: FastifyPluginAsync<ResourceServerOptions> = async (fastify, options) => {
  const o = checkOptions(options)
  const log = fastify.log.child({ plugin: 'fastify-auth-service/resource-server' })
  const get = async (url: string): Promise<unknown> => {
    const res = await fetch(url, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(o.requestMs), redirect: 'error' })
    if (res.status !== 200) throw new Error(`GET ${url} answered ${res.status}`)
    return res.json()
  }

  // RFC 8414 §3: the well-known segment goes before the issuer's path; §3.3: the issuer in the
  // document must be the one asked for, exactly.
  const issuerUrl = new URL(o.issuer)
  const path = issuerUrl.pathname === '/' ? '' : issuerUrl.pathname
  const metadata = (await get(`${issuerUrl.origin}${WELL_KNOWN_OAUTH}${path}`)) as Record<string, unknown>
  if (metadata.issuer !== o.issuer) throw new Error(`resource-server: the metadata names issuer ${JSON.stringify(metadata.issuer)}, not ${o.issuer}`)
  const { jwks_uri: jwksUri, session_revocation_feed_endpoint: feedUrl } = metadata
  if (typeof jwksUri !== 'string' || typeof feedUrl !== 'string') {
    throw new Error('resource-server: the auth service publishes no JWKS or revocation feed; it signs with HS256, whose key is a shared secret: switch it to EdDSA (JWT_ALGORITHM=EdDSA)')
  }
  for (const url of [jwksUri, feedUrl]) {
    if (new URL(url).origin !== issuerUrl.origin) throw new Error(`resource-server: ${url} is not on the issuer's origin`)
  }

  const keys = new RemoteKeys({ jwksUri, issuer: o.issuer, audience: o.audience, minRefetchIntervalMs: o.minRefetchMs, get, log })
  await keys.refresh()
  if (keys.kids.length === 0) throw new Error('resource-server: the JWKS holds no Ed25519 key for EdDSA')
  const revocations = new Revocations()
  const feed = new FeedClient({
    url: feedUrl,
    authorization: basicAuthorization(o.clientId, o.clientSecret),
    issuer: o.issuer,
    clientId: o.clientId,
    keys,
    revocations,
    connectTimeoutMs: o.requestMs,
    heartbeatTimeoutMs: o.heartbeatMs,
    log,
  })
  feed.start()
  const refresher = setInterval(() => keys.refresh().catch((err) => log.warn({ err }, 'JWKS refresh failed; keeping the keys we have')), o.refreshMs)
  refresher.unref()
  fastify.addHook('onClose', async () => {
    clearInterval(refresher)
    feed.stop()
  })

  const verified = new VerifiedTokens(o.verifiedCacheSize)
  const tokens = {
    verify(token: string): AccessClaims {
      const known = verified.get(token)
      if (known) return known
      if (!isCompactJws(token)) throw new ApiError('invalid_token')
      const key = keys.get(kidOf(token))
      if (!key) throw new ApiError('invalid_token')
      let claims: AccessClaims
      try {
        claims = checkedClaims(key.verifyAccessToken(token), { kid: key.kid, algorithm: 'EdDSA' })
      } catch (err) {
        throw toApiError(err)
      }
      verified.set(token, claims)
      return claims
    },
  }
  const retryAfterSec = Math.max(1, Math.ceil(o.heartbeatMs / 1000))
  const check = (claims: AccessClaims) => {
    if (revocations.staleness > o.maxStalenessMs && o.refuseStale) {
      throw new ApiError('service_unavailable', 'Revocations from the auth service are not current; retry shortly.', retryAfterSec)
    }
    // Held only as long as the auth service's tokens live: a longer-lived one would outlast its entry.
    if (revocations.tooLongLived(claims) && revocations.cursor !== undefined) throw new ApiError('invalid_token')
    if (revocations.has(claims.sid)) throw new ApiError('session_revoked')
  }
  const inner = makeAuthenticate({ tokens, transport: { readAccessToken: authorizationToken }, check, allowedOrigins: new Set() })
  // The one await the protected path may take: a token naming a kid we do not hold waits for
  // the (rate-limited) JWKS refetch, so a freshly rotated key works at once.
  const authenticate = async (request: Parameters<typeof inner>[0], reply: Parameters<typeof inner>[1]) => {
    const token = authorizationToken(request)
    if (token && !verified.get(token)) {
      const kid = kidOf(token)
      if (kid !== undefined && !keys.get(kid)) await keys.find(kid)
    }
    return inner(request, reply)
  }

  fastify.decorateRequest('authn', null)
  const authn: AuthnVerifier = {
    authenticate,
    require: (requirements: Requirements) => makeRequire(authenticate, requirements),
    verify(token: string): AccessClaims {
      const claims = tokens.verify(token)
      check(claims)
      return claims
    },
  }
  // FastifyAuthn is AuthnVerifier in a host that imports this entry alone; only a program that
  // also imports the in-process plugin widens it, and no host registers both.
  fastify.decorate('authn', authn as FastifyAuthn)
}

/** `Authorization: Bearer <token>` only: a service in another process has none of our cookies. */
function authorizationToken(request: { headers: { authorization?: string } }): string | null {
  const header = request.headers.authorization
  return header === undefined ? null : bearerToken(header)
}

function kidOf(token: string): string | undefined {
  const dot = token.indexOf('.')
  if (dot <= 0 || dot > 2048) return undefined
  try {
    const kid = (JSON.parse(Buffer.from(token.slice(0, dot), 'base64url').toString('utf8')) as { kid?: unknown } | null)?.kid
    return typeof kid === 'string' ? kid : undefined
  } catch {
    return undefined
  }
}

function checkOptions(options: ResourceServerOptions) {
  const problems: string[] = []
  const int = (value: unknown, fallback: number, min: number, max: number, name: string) => {
    if (value === undefined) return fallback
    if (!Number.isInteger(value) || (value as number) < min || (value as number) > max) problems.push(`${name} must be an integer from ${min} to ${max}`)
    return value as number
  }
  let issuer: URL | null = null
  try {
    issuer = new URL(options.issuer)
  } catch {
    problems.push('issuer must be the auth service\'s issuer URL, e.g. https://api.example.com/auth')
  }
  if (issuer && issuer.protocol !== 'https:' && !(issuer.protocol === 'http:' && options.allowHttp === true)) {
    problems.push('issuer must be https (allowHttp: true for plain http in development: the client secret travels in every feed request)')
  }
  if (typeof options.clientId !== 'string' || options.clientId === '') problems.push('clientId is required (this service\'s confidential client)')
  if (typeof options.clientSecret !== 'string' || options.clientSecret === '') problems.push('clientSecret is required')
  if (options.whenStale !== undefined && options.whenStale !== 'refuse' && options.whenStale !== 'accept') problems.push('whenStale must be "refuse" or "accept"')
  const resolved = {
    issuer: options.issuer,
    clientId: options.clientId,
    clientSecret: options.clientSecret,
    audience: options.audience ?? DEFAULT_AUDIENCE,
    maxStalenessMs: int(options.maxStalenessSec, 60, 1, 86_400, 'maxStalenessSec') * 1000,
    refuseStale: options.whenStale !== 'accept',
    requestMs: int(options.timeouts?.requestMs, 5000, 100, 120_000, 'timeouts.requestMs'),
    heartbeatMs: int(options.timeouts?.heartbeatMs, 15_000, 100, 600_000, 'timeouts.heartbeatMs'),
    refreshMs: int(options.keys?.refreshIntervalSec, 300, 1, 86_400, 'keys.refreshIntervalSec') * 1000,
    minRefetchMs: int(options.keys?.minRefetchIntervalSec, 10, 0, 3600, 'keys.minRefetchIntervalSec') * 1000,
    verifiedCacheSize: int(options.verifiedCacheSize, 10_000, 0, 10_000_000, 'verifiedCacheSize'),
  }
  if (problems.length > 0) throw new Error(`fastify-auth-service/resource-server: invalid options:\n  - ${problems.join('\n  - ')}`)
  return resolved
}

export default fp(resourceServer, { fastify: '5.x', name: 'fastify-auth-service/resource-server' })
export { resourceServer }
export type { AccessClaims } from '../auth/access-claims.js'
export type { AuthnVerifier } from '../authn.js'
