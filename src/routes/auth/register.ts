import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Credentials, Type, errorRef } from '../../schemas/common.js'
import { ApiError } from '../../errors.js'
import { normaliseEmail } from '../../users/email.js'
import { EmailTakenError } from '../../users/user-store.js'
import { guard } from '../../db/transient.js'

const register: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.post(
    '/auth/register',
    {
      schema: {
        body: Credentials,
        response: {
          201: Type.Object({ id: Type.String(), email: Type.String() }),
          400: errorRef,
          409: errorRef,
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
