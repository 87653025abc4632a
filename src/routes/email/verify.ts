import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { RouteDeps } from '../context.js'
import { NoContent, Type, errorResponses } from '../../schemas/common.js'
import { EmailField, PROOF_NOTE, ProofFields, proofOf } from '../../schemas/email.js'
import { requestMeta } from '../../http/meta.js'

const verify: FastifyPluginAsyncTypebox<RouteDeps> = async (fastify, { core, limitPerIp }) => {
  fastify.post(
    '/email/verify',
    {
      onRequest: limitPerIp('verify', core.settings.mailLimits.codePerIp),
      schema: {
        tags: ['email'],
        summary: 'Verify the address with the link or code of the verification mail',
        description: `${PROOF_NOTE} Access tokens issued from then on (the next refresh or login) carry email_verified: true.`,
        body: Type.Object(ProofFields, { additionalProperties: false }),
        response: { 204: NoContent, ...errorResponses(400, 429, 503) },
      },
    },
    async (request, reply) => {
      await core.email.verify(proofOf(request.body), requestMeta(request))
      return reply.code(204).send(null)
    },
  )

  fastify.post(
    '/email/verify/resend',
    {
      onRequest: limitPerIp('verify-resend', core.settings.mailLimits.perIp),
      schema: {
        tags: ['email'],
        summary: 'Send the verification mail again',
        description:
          '202 for every valid address, in the same time: only an account with this address that is not verified yet is mailed (a new link and code, replacing the older ones). Limited per client IP and per address.',
        body: Type.Object({ email: EmailField }, { additionalProperties: false }),
        response: { 202: Type.Object({ status: Type.Literal('accepted') }), ...errorResponses(400, 429, 503) },
      },
    },
    async (request, reply) => {
      await core.email.resend(request.body.email, requestMeta(request))
      return reply.code(202).send({ status: 'accepted' as const })
    },
  )
}

export default verify
