import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { RouteDeps } from './context.js'
import { ACCESS_TOKEN_SECURITY, NoContent, RefreshTokenField, TRANSPORT_NOTE, Type, errorResponses } from '../schemas/common.js'
import { withBearerChallenge } from '../errors.js'
import { wantsCookies } from '../http/transport.js'
import { requestMeta } from '../http/meta.js'

const Scope = Type.Union([Type.Literal('current'), Type.Literal('all'), Type.Literal('others')], {
  default: 'current',
  description: '`current`: this session (default); `all`: every session of the account; `others`: every session but this one',
})

const logout: FastifyPluginAsyncTypebox<RouteDeps> = async (fastify, { core, tokens, authenticate }) => {
  fastify.post(
    '/logout',
    {
      schema: {
        tags: ['auth'],
        summary: 'Log out this session, all sessions, or all others',
        description: `\`scope=current\` names the session by the refresh token (body or cookie) or else by the access token's sid. \`all\` and \`others\` need a valid access token and revoke the account's other sessions on every instance within a second; with a second factor enrolled, the session must have used it recently (401 insufficient_user_authentication otherwise). ${TRANSPORT_NOTE}`,
        security: ACCESS_TOKEN_SECURITY,
        querystring: Type.Object({ scope: Type.Optional(Scope) }),
        body: Type.Optional(Type.Object({ refresh_token: Type.Optional(RefreshTokenField) })),
        response: { 204: NoContent, ...errorResponses(400, 401, 503) },
      },
    },
    async (request, reply) => {
      const scope = request.query.scope ?? 'current'
      const meta = requestMeta(request)
      if (scope !== 'current') {
        await authenticate(request, reply)
        // Ending every session is a sensitive action: with a second factor, a recent one.
        await core.mfa.requireRecent(request.authn!)
        const revoked = await core.sessions.logoutAccount(request.authn!, scope, meta)
        if (scope === 'all' && wantsCookies(request)) core.transport.clearCookies(reply)
        request.log.info({ scope, revoked: revoked.length }, 'logout')
        return reply.code(204).send(null)
      }
      // Both credentials are read before anything is revoked, so a request with an ambiguous
      // cookie (400) changes nothing even when the other credential alone would have done.
      const refreshToken = core.transport.readRefreshToken(request)
      const accessToken = core.transport.readAccessToken(request)
      const accessClaims = accessToken === null ? null : () => tokens.verify(accessToken)
      // The cookies go whatever the outcome: they name a session that is over or unknown.
      if (wantsCookies(request)) core.transport.clearCookies(reply)
      try {
        await core.sessions.logoutSession(refreshToken, accessClaims, meta)
      } catch (err) {
        throw withBearerChallenge(err)
      }
      request.log.info({ scope }, 'logout')
      return reply.code(204).send(null)
    },
  )
}

export default logout
