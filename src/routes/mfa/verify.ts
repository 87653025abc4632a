// The second step of a password login, anonymous: the challenge of its 401 mfa_required and a
// second factor give the session.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { RouteDeps } from '../context.js'
import { TRANSPORT_NOTE, TokenResponse, Type, errorResponses } from '../../schemas/common.js'
import { ChallengeToken, CodeUnauthorized, FACTOR_NOTE, FactorAnswerFields, ProofField, RequestOptions, answerOf } from '../../schemas/mfa.js'
import { requestMeta } from '../../http/meta.js'

const verify: FastifyPluginAsyncTypebox<RouteDeps> = async (fastify, { core, tokens, limitPerIp }) => {
  const { loginPerIp } = core.settings.rateLimit

  fastify.post(
    '/mfa/verify',
    {
      onRequest: limitPerIp('mfa-verify', loginPerIp),
      schema: {
        tags: ['mfa'],
        summary: "Answer a login's second-factor challenge: start the session",
        description: `The \`challenge\` of a login's 401 mfa_required, with a second factor. ${FACTOR_NOTE} A challenge works once, on any instance, for mfa.challengeTtlSec; a spent, expired or unknown one is 401 invalid_mfa_challenge (log in again). The session's access tokens carry amr (pwd, otp / hwk / swk, mfa) and auth_time. ${TRANSPORT_NOTE}`,
        body: Type.Object({ challenge: ChallengeToken, ...FactorAnswerFields, proof: ProofField }, { additionalProperties: false }),
        response: { 200: TokenResponse, 401: CodeUnauthorized, ...errorResponses(400, 403, 429, 503) },
      },
    },
    async (request, reply) => {
      const session = await core.mfa.verifyLogin(request.body.challenge, answerOf(request.body), request.body.proof ?? null, requestMeta(request))
      return core.transport.sendTokens(request, reply, { userId: session.userId, accessToken: tokens.sign(session), refreshToken: session.refreshToken })
    },
  )

  fastify.post(
    '/mfa/passkey/options',
    {
      onRequest: limitPerIp('mfa-passkey-options', loginPerIp),
      schema: {
        tags: ['mfa'],
        summary: 'WebAuthn options for a passkey answering a login challenge',
        description:
          "For navigator.credentials.get(): the account's passkeys, and a WebAuthn challenge kept with the login's. Send the result to POST /mfa/verify as `passkey`. 401 invalid_mfa_challenge when the challenge is not live; 404 when passkeys are not configured.",
        body: Type.Object({ challenge: ChallengeToken }, { additionalProperties: false }),
        response: { 200: Type.Object({ options: RequestOptions }), ...errorResponses(400, 401, 404, 409, 429, 503) },
      },
    },
    async (request) => ({ options: await core.mfa.passkeyOptions(request.body.challenge) }),
  )
}

export default verify
