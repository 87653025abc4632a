// The OAuth endpoints beside the token endpoint (/refresh): RFC 7009 revocation, RFC 7662
// introspection, the revocation feed (SSE of CAEP session-revoked SETs) and the metadata in its
// OpenID Connect location ({issuer}/.well-known/openid-configuration; the RFC 8414 location,
// which is outside the prefix, is the plugin's: src/plugin.ts).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { RouteDeps } from './context.js'
import { ClientIdField, ClientString, Type, errorResponses } from '../schemas/common.js'
import { ApiError } from '../errors.js'
import { authenticateClient, type CallingClient } from '../oauth/clients.js'
import { OAUTH_ROUTES, WELL_KNOWN_OIDC } from '../oauth/metadata.js'
import type { AccessClaims } from '../auth/access-claims.js'
import type { RevocationFeed } from '../oauth/feed.js'
import { requestMeta } from '../http/meta.js'

const ClientFields = {
  client_id: Type.Optional(ClientIdField),
  client_secret: Type.Optional(ClientString({ maxLength: 1024 })),
}
const TokenRequest = Type.Object({
  token: ClientString({ minLength: 1, maxLength: 4096 }),
  token_type_hint: Type.Optional(ClientString({ maxLength: 64 })),
  ...ClientFields,
})
type TokenForm = { token: string; token_type_hint?: string }
const FORM = 'application/x-www-form-urlencoded'
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/

export interface OAuthRouteOptions extends RouteDeps {
  metadata: Record<string, unknown>
  /** null under HS256: nothing outside can verify what it would sign */
  feed: RevocationFeed | null
}

const oauth: FastifyPluginAsyncTypebox<OAuthRouteOptions> = async (fastify, { core, tokens, metadata, feed }) => {
  const { clients } = core.settings

  // RFC 7662 and 7009 take form bodies only.
  const formOnly = {
    body: { content: { [FORM]: { schema: TokenRequest } } },
  }
  const requireForm = async (request: { headers: { 'content-type'?: string } }) => {
    if (request.headers['content-type']?.split(';')[0]?.trim().toLowerCase() !== FORM) throw new ApiError('unsupported_media_type', 'Send application/x-www-form-urlencoded.')
  }

  fastify.get(
    WELL_KNOWN_OIDC,
    {
      schema: {
        tags: ['oauth'],
        summary: 'Authorization-server metadata (RFC 8414), at the OpenID Connect location',
        description: 'The same document as /.well-known/oauth-authorization-server{issuer path}.',
        response: { 200: Type.Record(Type.String(), Type.Unknown()) },
      },
    },
    async (_request, reply) => {
      reply.header('cache-control', 'public, max-age=300')
      return metadata
    },
  )

  /** A verified access token's claims; 'expired' for one of ours past its exp; null for anything else. */
  const accessClaimsOf = (token: string): AccessClaims | 'expired' | null => {
    if (!JWT_SHAPE.test(token)) return null
    try {
      return tokens.verify(token)
    } catch (err) {
      return err instanceof ApiError && err.code === 'token_expired' ? 'expired' : null
    }
  }
  // RFC 7009 §2.1: a client revokes only what was issued to it; services (confidential
  // clients) act for the whole deployment.
  const mayRevoke = (client: CallingClient, sessionClient: string | undefined) =>
    client.confidential || (sessionClient ?? clients.defaultClient) === client.id

  fastify.post(
    OAUTH_ROUTES.revocation,
    {
      preValidation: requireForm,
      schema: {
        tags: ['oauth'],
        summary: 'Revoke a refresh token (its session) or an access token (its session): RFC 7009',
        description:
          'Form body `token`, optional `token_type_hint` (refresh_token, access_token; a hint is only a hint). A refresh token ends its whole session (token family); an access token, once its signature and claims verify, ends its session. Every instance and every subscribed resource server refuses the session within a second. 200 for a token that is unknown, expired or already revoked. Public clients send their client_id and may revoke only their own tokens; confidential clients authenticate (client_secret_basic or client_secret_post).',
        ...formOnly,
        response: { 200: Type.Null({ description: 'Revoked, or nothing to revoke: an empty body (RFC 7009 §2.2)' }), ...errorResponses(400, 401, 503) },
      },
    },
    async (request, reply) => {
      const client = authenticateClient(request, clients, { confidentialOnly: false })
      const { token, token_type_hint: hint } = request.body as TokenForm
      reply.header('cache-control', 'no-store')
      const meta = requestMeta(request)
      // Each answers whether the token was found as its kind.
      const asAccess = async () => {
        const claims = accessClaimsOf(token)
        // An expired token can do nothing any more: found, and nothing to revoke.
        if (claims === null || claims === 'expired') return claims !== null
        if (!mayRevoke(client, claims.client_id)) throw notIssuedToYou()
        await core.sessions.revoke(claims.sid, 'logout', claims.sub, meta)
        return true
      }
      const asRefresh = async () => {
        const session = await core.sessions.sessionOfRefreshToken(token)
        if (!session) return false
        if (!mayRevoke(client, session.claims.client_id)) throw notIssuedToYou()
        await core.sessions.revoke(session.familyId, 'logout', undefined, meta)
        return true
      }
      // The hint orders the search; either kind is found whatever the hint (§2.1).
      const order = hint === 'access_token' || (hint !== 'refresh_token' && JWT_SHAPE.test(token)) ? [asAccess, asRefresh] : [asRefresh, asAccess]
      for (const attempt of order) if (await attempt()) break
      request.log.info({ client: client.id }, 'oauth revocation')
      return reply.code(200).send(null)
    },
  )

  fastify.post(
    OAUTH_ROUTES.introspection,
    {
      preValidation: requireForm,
      schema: {
        tags: ['oauth'],
        summary: 'Introspect a token: RFC 7662 (confidential clients only)',
        description:
          'Form body `token`, optional `token_type_hint`. The caller authenticates as a confidential client (client_secret_basic or client_secret_post); otherwise 401 invalid_client. `{active: false}` and nothing else for any token that is not active. Revocation is reflected at once: the session is read from the database, not from the denylist.',
        ...formOnly,
        response: { 200: Type.Record(Type.String(), Type.Unknown()), ...errorResponses(400, 401, 503) },
      },
    },
    async (request, reply) => {
      authenticateClient(request, clients, { confidentialOnly: true })
      reply.header('cache-control', 'no-store')
      const { token } = request.body as TokenForm
      const claims = accessClaimsOf(token)
      if (claims !== null && claims !== 'expired') {
        if (!(await core.sessions.isLive(claims.sid))) return { active: false }
        return {
          active: true,
          token_type: 'Bearer',
          client_id: claims.client_id ?? clients.defaultClient,
          sub: claims.sub,
          sid: claims.sid,
          iss: claims.iss,
          aud: claims.aud,
          iat: claims.iat,
          exp: claims.exp,
          ...(claims.email === undefined ? {} : { email: claims.email }),
        }
      }
      const session = await core.sessions.liveSessionOfRefreshToken(token)
      if (!session || claims === 'expired') return { active: false }
      return {
        active: true,
        token_type: 'refresh_token',
        client_id: session.claims.client_id ?? clients.defaultClient,
        sub: session.userId,
        sid: session.familyId,
        iss: core.settings.jwt.issuer,
        iat: Math.floor(session.issuedAt.getTime() / 1000),
        exp: Math.floor(session.expiresAt.getTime() / 1000),
      }
    },
  )

  fastify.get(
    OAUTH_ROUTES.feed,
    {
      schema: {
        tags: ['oauth'],
        summary: 'The revocation feed: Server-Sent Events of CAEP session-revoked SETs (confidential clients)',
        description:
          'Not an OAuth standard endpoint (metadata: session_revocation_feed_endpoint). Authenticate with client_secret_basic. `event: set` carries one Security Event Token (RFC 8417, typ secevent+jwt, signed with the JWKS key) per revoked session; `event: sync`, every few seconds, carries `{cursor, retain_ms, access_token_ttl_s}` with the cursor as its id: reconnect with it as Last-Event-ID and everything revoked since is replayed. README: Services that verify tokens.',
        response: { 200: { description: 'A stream of `set` and `sync` events', content: { 'text/event-stream': { schema: Type.String() } } }, ...errorResponses(401, 404) },
      },
    },
    async (request, reply) => {
      if (feed === null) throw new ApiError('not_found', 'The revocation feed needs EdDSA signing keys: under HS256 nothing outside this service can verify its events.')
      // Basic only: a GET has no form to carry client_secret_post.
      const client = authenticateClient(request, clients, { confidentialOnly: true })
      reply.hijack()
      feed.subscribe(reply.raw, client.id, request.headers['last-event-id'] as string | undefined)
      request.log.info({ client: client.id, subscribers: feed.size }, 'revocation feed subscriber connected')
    },
  )
}

const notIssuedToYou = () => new ApiError('invalid_request', 'The token was not issued to this client.')

export default oauth
