import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { RouteDeps } from './context.js'
import { NoContent, PasswordString, TRANSPORT_NOTE, TokenResponse, Type, errorResponses } from '../schemas/common.js'
import { PROOF_NOTE, ProofFields, proofOf } from '../schemas/email.js'
import { requestMeta } from '../http/meta.js'

const reset: FastifyPluginAsyncTypebox<RouteDeps> = async (fastify, { core, tokens, limitPerIp }) => {
  const logsIn = core.settings.passwordReset.logsIn
  fastify.post(
    '/password/reset',
    {
      onRequest: limitPerIp('reset', core.settings.mailLimits.codePerIp),
      schema: {
        tags: ['recovery'],
        summary: 'Set a new password with a reset link or code',
        description: `${PROOF_NOTE} Every session of the account is revoked (reason password_reset, on every instance within a second) and the owner is mailed a notice. ${
          logsIn ? `Answers 200 with a new session's tokens. ${TRANSPORT_NOTE}` : 'Answers 204; log in with the new password.'
        }`,
        body: Type.Object({ ...ProofFields, new_password: PasswordString({ minLength: 8, maxLength: 1024 }) }, { additionalProperties: false }),
        // Both, whatever this server's setting: a client written against the document handles either.
        response: { 200: TokenResponse, 204: NoContent, ...errorResponses(400, 429, 503) },
      },
    },
    async (request, reply) => {
      const { session } = await core.recovery.reset(proofOf(request.body), request.body.new_password, requestMeta(request))
      if (!session) return reply.code(204).send(null)
      return core.transport.sendTokens(request, reply, { userId: session.userId, accessToken: tokens.sign(session), refreshToken: session.refreshToken })
    },
  )
}

export default reset
