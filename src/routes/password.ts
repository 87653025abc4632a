import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { RouteDeps } from './context.js'
import { ACCESS_TOKEN_SECURITY, PasswordString, RefreshTokenField, TRANSPORT_NOTE, TokenResponse, Type, errorResponses } from '../schemas/common.js'
import { ApiError } from '../errors.js'
import { requestMeta } from '../http/meta.js'

const password: FastifyPluginAsyncTypebox<RouteDeps> = async (fastify, { core, tokens, authenticate }) => {
  fastify.post(
    '/password',
    {
      preHandler: authenticate,
      schema: {
        tags: ['auth'],
        summary: 'Change the password',
        description: `Needs the current password (counted like a login failure when wrong, under the same lock as logins from this client IP) and this session's refresh token (\`refresh_token\` in the body, or the refresh cookie). Every other session of the account is revoked; this one stays logged in and gets a fresh token pair. With a second factor enrolled, the session must also have used it recently: 401 insufficient_user_authentication otherwise (RFC 9470; re-authenticate and retry). ${TRANSPORT_NOTE}`,
        security: ACCESS_TOKEN_SECURITY,
        body: Type.Object(
          {
            current_password: PasswordString({ minLength: 1, maxLength: 1024 }),
            new_password: PasswordString({ minLength: 8, maxLength: 1024 }),
            refresh_token: Type.Optional(RefreshTokenField),
          },
          { additionalProperties: false },
        ),
        response: { 200: TokenResponse, ...errorResponses(400, 401, 403, 429, 503) },
      },
    },
    async (request, reply) => {
      const auth = request.authn!
      const refreshToken = core.transport.readRefreshToken(request)
      if (!refreshToken) throw new ApiError('invalid_request', "This session's refresh token is required.")
      // With a second factor enrolled, the password alone is not enough: a recent second factor too.
      await core.mfa.requireRecent(auth)
      const session = await core.accounts.changePassword({
        userId: auth.sub,
        familyId: auth.sid,
        refreshToken,
        currentPassword: request.body.current_password,
        newPassword: request.body.new_password,
        meta: requestMeta(request),
      })
      return core.transport.sendTokens(request, reply, {
        userId: session.userId,
        accessToken: tokens.sign(session),
        refreshToken: session.refreshToken,
      })
    },
  )
}

export default password
