// The Fastify plugin a team registers:
//
//   await app.register(auth, { prefix: '/auth', database: process.env.DATABASE_URL, keys: {...} })
//   app.get('/notes', { preHandler: app.authn.authenticate }, async (req) => notesOf(req.authn!.sub))
//
// Its routes (register, login, refresh, logout, password, me, sessions, events, JWKS, its
// OpenAPI document) live under the prefix in a context of their own (src/routes/index.ts).
// What the host sees is one decorator, `fastify.authn`, and one request property,
// `request.authn`, typed below by declaration merging. Not `fastify.auth`: @fastify/auth,
// which many hosts use to combine strategies, already takes that name.
import fp from 'fastify-plugin'
import type { FastifyPluginAsync } from 'fastify'
import type { Registry } from 'prom-client'
import { linkPagesMissing, resolveAuthOptions, type AuthPluginOptions } from './options.js'
import { createCore } from './core.js'
import { makeAuthenticate, makeRequire, registerAccessTokens, type Authenticator, type Requirements } from './access-tokens.js'
import type { AccessClaims } from './auth/access-claims.js'
import type { RevokeReason } from './tokens/token-store.js'
import { cleanupTimer } from './jobs/cleanup-timer.js'
import type { CleanupResult } from './jobs/cleanup.js'
import { readMigrations, unappliedMigrations } from './db/migrate.js'
import routes from './routes/index.js'
import { ApiError } from './errors.js'
import { TRUST_EVERY_PROXY_MESSAGE, trustsEveryProxy } from './http/trust-proxy.js'
import type { AuthnVerifier } from './authn.js'
import { RevocationFeed } from './oauth/feed.js'
import { authorizationServerMetadata, WELL_KNOWN_OAUTH } from './oauth/metadata.js'
import { errorHandler } from './http/error-handler.js'

const SESSION_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/**
 * `authenticate` takes the access token by `Authorization: Bearer` or the access cookie, and
 * refuses a session revoked on any instance; `verify` checks signature, claims and denylist.
 */
export interface Authn extends AuthnVerifier {
  /** Ends one session everywhere within a second; true when this call ended it. */
  revokeSession(sessionId: string, reason?: Extract<RevokeReason, 'admin' | 'logout'>): Promise<boolean>
  /** Ends every session of a user everywhere within a second; the session ids ended. */
  revokeUserSessions(userId: string, reason?: Extract<RevokeReason, 'admin' | 'logout'>): Promise<string[]>
  /** Database reachable and every migration of this version applied: for a readiness check. */
  ready(): Promise<{ ok: true } | { ok: false; reason: 'database_unreachable' | 'migrations_pending'; missing?: string[] }>
  /** Runs the cleanup job now (it also runs every `cleanup.intervalSec`). */
  cleanup(): Promise<CleanupResult>
  /** The plugin's Prometheus metrics. */
  readonly metrics: Registry
  /** Where the routes are mounted. */
  readonly prefix: string
  /**
   * Ends the revocation feed's open streams (their subscribers reconnect elsewhere). Called at
   * the start of close(); a server that drains before closing calls it first, or the streams
   * would hold the drain open.
   */
  closeStreams(): void
}

declare module './authn.js' {
  // With the in-process plugin, `fastify.authn` is all of Authn.
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  interface FastifyAuthn extends Authn {}
}

export interface AuthPluginRegisterOptions extends AuthPluginOptions {
  /** where the metrics go; default: a registry of the plugin's own (`fastify.authn.metrics`) */
  metricsRegistry?: Registry
  /**
   * ms since the epoch, for TOTP steps, auth_time and the age `require({ maxAgeSec })` checks;
   * default Date.now. Tests hold it where time matters; access tokens' own iat/exp use the real clock.
   */
  clock?: () => number
}

const authPlugin: FastifyPluginAsync<AuthPluginRegisterOptions> = async (fastify, options) => {
  // Checked before anything is opened: a bad option fails register/ready, naming it.
  // Routes land under the host's own prefix (when it registers us inside a prefixed context)
  // plus ours, and the refresh cookie must follow them there.
  const settings = resolveAuthOptions(options, fastify.prefix)
  const log = fastify.log.child({ plugin: 'fastify-auth-service' })
  const withoutPage = linkPagesMissing(settings)
  if (withoutPage.length > 0 && settings.production) {
    log.warn({ options: withoutPage }, `no page for ${withoutPage.join(', ')}: those mails carry a code only, with no link to click (RESET_PASSWORD_URL and the like in the standalone server)`)
  }
  if (trustsEveryProxy(fastify)) {
    if (settings.production) throw new Error(`fastify-auth-service: ${TRUST_EVERY_PROXY_MESSAGE}`)
    log.warn({}, TRUST_EVERY_PROXY_MESSAGE)
  }
  const core = createCore(settings, { log, registry: options.metricsRegistry, ...(options.clock ? { now: options.clock } : {}) })
  const cleanup = cleanupTimer(
    { tokens: core.tokens, attempts: core.attempts, counters: core.counters, audit: core.auditStore, emailTokens: core.emailTokens, mfaChallenges: core.challenges },
    settings,
    log.child({ component: 'cleanup' }),
  )
  fastify.addHook('onClose', async () => {
    await cleanup.stop()
    await core.close()
  })
  await core.start()
  fastify.addHook('onReady', async () => cleanup.start())

  const tokens = await registerAccessTokens(fastify, settings)
  const authenticate = makeAuthenticate({
    tokens,
    transport: core.transport,
    check: (claims) => {
      if (core.denylist.has(claims.sid)) throw new ApiError('session_revoked')
    },
    allowedOrigins: new Set(settings.corsOrigins),
  })
  const expectedMigrations = (await readMigrations()).map((m) => m.name)
  const { key } = settings.jwt
  // The feed's events are verified elsewhere with the JWKS key: under HS256 there is none.
  const feed =
    key.algorithm === 'EdDSA'
      ? new RevocationFeed({ denylist: core.denylist, issuer: settings.jwt.issuer, accessTtlSec: settings.jwt.accessTtlSec, heartbeatMs: settings.feed.heartbeatMs, key })
      : null
  if (!feed && settings.clients.confidential.size > 0) {
    log.warn({}, 'confidential clients can introspect, but the revocation feed and resource servers need EdDSA signing keys (HS256 publishes none)')
  }
  // Before the server stops: open streams would otherwise hold close() until they end.
  fastify.addHook('preClose', async () => feed?.end())
  const metadata = authorizationServerMetadata(settings)

  fastify.decorateRequest('authn', null)
  fastify.decorate('authn', {
    authenticate,
    require: (requirements: Requirements) => makeRequire(authenticate, requirements, core.now),
    verify(token: string): AccessClaims {
      const claims = tokens.verify(token)
      if (core.denylist.has(claims.sid)) throw new ApiError('session_revoked')
      return claims
    },
    async revokeSession(sessionId, reason = 'admin') {
      if (!SESSION_ID.test(sessionId)) return false
      return core.sessions.revoke(sessionId, reason, undefined, { ip: null, userAgent: null })
    },
    async revokeUserSessions(userId, reason = 'admin') {
      if (!SESSION_ID.test(userId)) return []
      return core.sessions.revokeAll(userId, reason, null, { ip: null, userAgent: null })
    },
    async ready() {
      try {
        const missing = await unappliedMigrations(core.db.pool, expectedMigrations)
        return missing.length === 0 ? { ok: true as const } : { ok: false as const, reason: 'migrations_pending' as const, missing }
      } catch {
        return { ok: false as const, reason: 'database_unreachable' as const }
      }
    },
    cleanup: () => cleanup.run(),
    metrics: core.metrics.registry,
    prefix: settings.mountPath,
    closeStreams: () => feed?.end(),
  } satisfies Authn)

  // RFC 8414 §3: the metadata of an issuer with a path is at the origin's well-known location
  // with that path after it. Registered where the host registered us (its prefix applies), in
  // a context of its own so that our error handler answers for it.
  await fastify.register(async (scope) => {
    scope.setErrorHandler(errorHandler)
    const schema = {
      tags: ['oauth'],
      summary: 'Authorization-server metadata (RFC 8414)',
      description: "At the origin's well-known location, followed by the issuer's path; the same document as {issuer}/.well-known/openid-configuration.",
      response: { 200: { type: 'object', additionalProperties: true } },
    }
    scope.get(`${WELL_KNOWN_OAUTH}${settings.issuerPath}`, { schema }, async (_request, reply) => {
      reply.header('cache-control', 'public, max-age=300').header('x-content-type-options', 'nosniff')
      return metadata
    })
  })
  await fastify.register(routes, { prefix: settings.prefix, core, tokens, authenticate, metadata, feed })
}

export default fp(authPlugin, { fastify: '5.x', name: 'fastify-auth-service' })
