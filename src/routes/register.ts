import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { RouteDeps } from './context.js'
import { Credentials, Type, errorResponses } from '../schemas/common.js'
import { requestMeta } from '../http/meta.js'

const register: FastifyPluginAsyncTypebox<RouteDeps> = async (fastify, { core, limitPerIp }) => {
  fastify.post(
    '/register',
    {
      onRequest: limitPerIp('register', core.settings.rateLimit.registerPerIp),
      schema: {
        tags: ['auth'],
        summary: 'Create an account',
        description: 'Email trimmed and lower-cased, control characters refused; password 8–1024 characters, any Unicode but NUL, NFC-normalised, hashed with argon2id. Limited per client IP.',
        body: Credentials,
        response: {
          201: Type.Object({ id: Type.String({ format: 'uuid' }), email: Type.String() }),
          ...errorResponses(400, 409, 429, 503),
        },
      },
    },
    async (request, reply) => {
      const user = await core.accounts.register(request.body.email, request.body.password, requestMeta(request))
      return reply.code(201).send({ id: user.id, email: user.email })
    },
  )
}

export default register
