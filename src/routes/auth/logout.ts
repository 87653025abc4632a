import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ACCESS_TOKEN_SECURITY, NoContent, RefreshTokenField, TRANSPORT_NOTE, Type, errorResponses } from '../../schemas/common.js'
import { ApiError, withBearerChallenge } from '../../errors.js'
import { wantsCookies } from '../../http/transport.js'
import { requestMeta } from '../../http/meta.js'

const Scope = Type.Union([Type.Literal('current'), Type.Literal('all'), Type.Literal('others')], {
  default: 'current',
  description: '`current`: this session (default); `all`: every session of the account; `others`: every session but this one',
})

const logout: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.post(
    '/auth/logout',
    {
      schema: {
        tags: ['auth'],
        summary: 'Log out this session, all sessions, or all others',
        description: `\`scope=current\` names the session by the refresh token (body or cookie) or else by the access token's sid. \`all\` and \`others\` need a valid access token and revoke the account's other sessions on every instance within a second. ${TRANSPORT_NOTE}`,
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
        await fastify.authenticate(request, reply)
        const { sub, sid } = request.auth!
        const revoked = await fastify.sessions.revokeAll(sub, 'logout', scope === 'others' ? sid : null, meta)
        if (scope === 'all' && wantsCookies(request)) fastify.transport.clearCookies(reply)
        request.log.info({ scope, revoked: revoked.length }, 'logout')
        return reply.code(204).send(null)
      }

      // The session is named by a refresh token if one is sent, else by the access token's sid.
      // Both are read before anything is revoked, so a request with an ambiguous cookie
      // (400) changes nothing even when the other credential alone would have done.
      const refreshToken = fastify.transport.readRefreshToken(request)
      const accessToken = fastify.transport.readAccessToken(request)
      let revoked = false
      if (refreshToken) {
        revoked = await fastify.sessions.revokeByRefreshToken(refreshToken, 'logout', meta)
      }
      if (!revoked && accessToken !== null) {
        let claims
        try {
          claims = fastify.accessTokens.verify(accessToken)
        } catch (err) {
          throw withBearerChallenge(err)
        }
        await fastify.sessions.revoke(claims.sid, 'logout', claims.sub, meta)
        revoked = true
      }
      if (wantsCookies(request)) fastify.transport.clearCookies(reply)
      if (!revoked) throw new ApiError(refreshToken ? 'invalid_refresh_token' : 'unauthorized')
      request.log.info({ scope }, 'logout')
      return reply.code(204).send(null)
    },
  )
}

export default logout
