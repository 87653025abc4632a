import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { RefreshTokenField, TokenResponse, Type, errorRef } from '../../schemas/common.js'
import { ApiError, type ErrorCode } from '../../errors.js'
import { wantsCookies } from '../../http/transport.js'

const FORM = 'application/x-www-form-urlencoded'

// Answers that end the session for good: a browser's cookies are cleared with them.
const SESSION_OVER = new Set<ErrorCode>(['refresh_token_reused', 'session_revoked', 'session_expired'])

const refresh: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.post(
    '/auth/refresh',
    {
      schema: {
        body: {
          content: {
            'application/json': { schema: Type.Object({ refresh_token: Type.Optional(RefreshTokenField) }) },
            // RFC 6749 §6: what an ordinary OAuth client library sends.
            [FORM]: {
              schema: Type.Object({
                grant_type: Type.String({ maxLength: 64 }),
                refresh_token: RefreshTokenField,
                scope: Type.Optional(Type.String({ maxLength: 1024 })),
              }),
            },
          },
        },
        response: { 200: TokenResponse, 400: errorRef, 401: errorRef, 503: errorRef },
      },
    },
    async (request, reply) => {
      const oauthForm = request.headers['content-type']?.split(';')[0]?.trim().toLowerCase() === FORM
      if (oauthForm && (request.body as { grant_type: string }).grant_type !== 'refresh_token') {
        throw new ApiError('unsupported_grant_type')
      }
      const token = fastify.transport.readRefreshToken(request)
      if (!token) throw new ApiError(oauthForm ? 'invalid_request' : 'unauthorized', 'A refresh token is required.')

      try {
        const session = await fastify.sessions.refresh(token)
        return fastify.transport.sendTokens(request, reply, {
          userId: session.userId,
          accessToken: fastify.accessTokens.sign(session),
          refreshToken: session.refreshToken,
        })
      } catch (err) {
        if (!(err instanceof ApiError) || err.code === 'service_unavailable') throw err
        if (SESSION_OVER.has(err.code)) {
          request.log.warn({ code: err.code }, 'refresh refused')
          if (wantsCookies(request)) fastify.transport.clearCookies(reply)
        }
        // RFC 6749 §5.2: OAuth clients understand one code for an unusable refresh token.
        throw oauthForm ? new ApiError('invalid_grant', err.message) : err
      }
    },
  )
}

export default refresh
