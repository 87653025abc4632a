import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { RouteDeps } from './context.js'
import { ClientString, RefreshTokenField, TRANSPORT_NOTE, TokenResponse, Type, errorResponses } from '../schemas/common.js'
import { ApiError, type ErrorCode } from '../errors.js'
import { requestMeta } from '../http/meta.js'

const FORM = 'application/x-www-form-urlencoded'

// Answers that end the session for good. A browser's cookies are left as they are: they hold
// dead tokens, and a Set-Cookie that clears them would also clear the fresh cookies of a login
// another tab made while this request was in flight (the SDK promises a failure never clears
// credentials replaced after the request began). The next login overwrites them; logout clears.
const SESSION_OVER = new Set<ErrorCode>(['refresh_token_reused', 'session_revoked', 'session_expired'])
// Answers that say "try again later" and must reach an OAuth client as such, never as
// invalid_grant (which it would take as the end of the session).
const TRY_AGAIN = new Set<ErrorCode>(['service_unavailable', 'too_many_requests'])

const refresh: FastifyPluginAsyncTypebox<RouteDeps> = async (fastify, { core, tokens }) => {
  fastify.post(
    '/refresh',
    {
      schema: {
        tags: ['auth'],
        summary: 'Rotate the refresh token',
        description: `Spends the presented refresh token and returns its child with a new access token. Limited per session (token family), never per IP: a limited refresh answers 429 with Retry-After and changes nothing. ${TRANSPORT_NOTE}`,
        body: {
          content: {
            'application/json': { schema: Type.Object({ refresh_token: Type.Optional(RefreshTokenField) }) },
            // RFC 6749 §6: what an ordinary OAuth client library sends.
            [FORM]: {
              schema: Type.Object({
                grant_type: ClientString({ maxLength: 64 }),
                refresh_token: RefreshTokenField,
                scope: Type.Optional(ClientString({ maxLength: 1024 })),
              }),
            },
          },
        },
        response: { 200: TokenResponse, ...errorResponses(400, 401, 429, 503) },
      },
    },
    async (request, reply) => {
      const oauthForm = request.headers['content-type']?.split(';')[0]?.trim().toLowerCase() === FORM
      if (oauthForm && (request.body as { grant_type: string }).grant_type !== 'refresh_token') {
        throw new ApiError('unsupported_grant_type')
      }
      const token = core.transport.readRefreshToken(request)
      if (!token) throw new ApiError(oauthForm ? 'invalid_request' : 'unauthorized', 'A refresh token is required.')

      try {
        const session = await core.sessions.refresh(token, requestMeta(request))
        return core.transport.sendTokens(request, reply, {
          userId: session.userId,
          accessToken: tokens.sign(session),
          refreshToken: session.refreshToken,
        })
      } catch (err) {
        if (!(err instanceof ApiError) || TRY_AGAIN.has(err.code)) throw err
        if (SESSION_OVER.has(err.code)) request.log.warn({ code: err.code }, 'refresh refused')
        // RFC 6749 §5.2: OAuth clients understand one code for an unusable refresh token.
        throw oauthForm ? new ApiError('invalid_grant', err.message) : err
      }
    },
  )
}

export default refresh
