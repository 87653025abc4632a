import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { RouteDeps } from './context.js'
import { Type, errorResponses } from '../schemas/common.js'
import { EmailField } from '../schemas/email.js'
import { requestMeta } from '../http/meta.js'

const forgot: FastifyPluginAsyncTypebox<RouteDeps> = async (fastify, { core, limitPerIp }) => {
  fastify.post(
    '/password/forgot',
    {
      onRequest: limitPerIp('forgot', core.settings.mailLimits.perIp),
      schema: {
        tags: ['recovery'],
        summary: 'Ask for a password reset mail',
        description:
          '202 for every valid address, in the same time, whether or not it has an account: the account is looked up after the answer, and only an existing one is mailed a link and a code. Limited per client IP and per address (429 with Retry-After, counted alike for every address).',
        body: Type.Object({ email: EmailField }, { additionalProperties: false }),
        response: { 202: Type.Object({ status: Type.Literal('accepted') }), ...errorResponses(400, 429, 503) },
      },
    },
    async (request, reply) => {
      await core.recovery.forgot(request.body.email, requestMeta(request))
      return reply.code(202).send({ status: 'accepted' as const })
    },
  )
}

export default forgot
