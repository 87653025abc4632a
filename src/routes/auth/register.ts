import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Credentials, Type, errorResponses } from '../../schemas/common.js'
import { ApiError } from '../../errors.js'
import { normaliseEmail } from '../../users/email.js'
import { EmailTakenError } from '../../users/user-store.js'
import { guard } from '../../db/transient.js'
import { perIp } from '../../plugins/rate-limit.js'

const register: FastifyPluginAsyncTypebox = async (fastify) => {
  const { registerPerIp, windowSec } = fastify.config.rateLimit
  fastify.post(
    '/auth/register',
    {
      config: { rateLimit: perIp(registerPerIp, windowSec) },
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
      const email = normaliseEmail(request.body.email)
      if (!email) throw new ApiError('invalid_email')
      const hash = await fastify.passwords.hash(request.body.password)
      try {
        const user = await guard(() => fastify.users.create(email, hash))
        return reply.code(201).send({ id: user.id, email: user.email })
      } catch (err) {
        if (err instanceof EmailTakenError) throw new ApiError('email_taken')
        throw err
      }
    },
  )
}

export default register
