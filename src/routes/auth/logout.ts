import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { RefreshTokenField, Type, errorRef } from '../../schemas/common.js'
import { ApiError } from '../../errors.js'
import { wantsCookies } from '../../http/transport.js'

const logout: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.post(
    '/auth/logout',
    {
      schema: {
        body: Type.Optional(Type.Object({ refresh_token: Type.Optional(RefreshTokenField) })),
        response: { 204: Type.Null(), 401: errorRef, 503: errorRef },
      },
    },
    async (request, reply) => {
      // The session is named by a refresh token if one is sent, else by the access token's sid.
      const refreshToken = fastify.transport.readRefreshToken(request)
      let revoked = false
      if (refreshToken) {
        revoked = await fastify.sessions.revokeByRefreshToken(refreshToken, 'logout')
      }
      const accessToken = fastify.transport.readAccessToken(request)
      if (!revoked && accessToken !== null) {
        const claims = fastify.accessTokens.verify(accessToken)
        await fastify.sessions.revoke(claims.sid, 'logout', claims.sub)
        revoked = true
      }
      if (wantsCookies(request)) fastify.transport.clearCookies(reply)
      if (!revoked) throw new ApiError(refreshToken ? 'invalid_refresh_token' : 'unauthorized')
      request.log.info('logout')
      return reply.code(204).send(null)
    },
  )
}

export default logout
