// Step-up: a logged-in session proves a factor again, now, and gets an access token that says so.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { RouteDeps } from './context.js'
import { ACCESS_TOKEN_SECURITY, TRANSPORT_NOTE, Type, errorResponses } from '../schemas/common.js'
import { CodeUnauthorized, FACTOR_NOTE, FactorAnswerFields, ProofField, ReauthPassword, answerOf } from '../schemas/mfa.js'
import { ApiError } from '../errors.js'
import { requestMeta } from '../http/meta.js'

const reauthenticate: FastifyPluginAsyncTypebox<RouteDeps> = async (fastify, { core, tokens, authenticate, limitPerIp }) => {
  fastify.post(
    '/reauthenticate',
    {
      onRequest: limitPerIp('reauthenticate', core.settings.rateLimit.loginPerIp),
      preHandler: authenticate,
      schema: {
        tags: ['mfa'],
        summary: 'Re-authenticate this session (step-up)',
        description: `What a client does after 401 insufficient_user_authentication (RFC 9470), then retries. With a second factor enrolled: ${FACTOR_NOTE} (a passkey from POST /passkeys/login/options). Without one: \`password\` (a wrong one is 403 invalid_current_password, counted like a failed login). Answers a new access token (the refresh token stays): this session's amr and auth_time are now this authentication's, in every access token its refreshes issue. ${TRANSPORT_NOTE}`,
        security: ACCESS_TOKEN_SECURITY,
        body: Type.Object({ password: Type.Optional(ReauthPassword), ...FactorAnswerFields, proof: ProofField }, { additionalProperties: false }),
        response: {
          200: Type.Object({ token_type: Type.Literal('Bearer'), expires_in: Type.Integer(), access_token: Type.Optional(Type.String()) }),
          401: CodeUnauthorized,
          ...errorResponses(400, 403, 429, 503),
        },
      },
    },
    async (request, reply) => {
      const { password, ...rest } = request.body
      if (password !== undefined && (rest.code ?? rest.recovery_code ?? rest.passkey) !== undefined) {
        throw new ApiError('invalid_request', 'Send either password, or one of code, recovery_code or passkey.')
      }
      const answer = password !== undefined ? { password } : answerOf(rest)
      const done = await core.mfa.reauthenticate(request.authn!, answer, request.body.proof ?? null, requestMeta(request))
      return core.transport.sendAccessToken(request, reply, tokens.sign(done))
    },
  )
}

export default reauthenticate
