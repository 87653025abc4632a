import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Credentials, TokenResponse, errorRef } from '../../schemas/common.js'
import { ApiError } from '../../errors.js'
import { normaliseEmail } from '../../users/email.js'
import { guard } from '../../db/transient.js'

const login: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.post(
    '/auth/login',
    { schema: { body: Credentials, response: { 200: TokenResponse, 400: errorRef, 401: errorRef } } },
    async (request, reply) => {
      const email = normaliseEmail(request.body.email)
      const user = email ? await guard(() => fastify.users.findByEmail(email)) : null
      // Unknown email and wrong password cost the same argon2 work and get the same body.
      const ok = await fastify.passwords.verify(user?.passwordHash ?? null, request.body.password)
      if (!user || !ok) throw new ApiError('invalid_credentials')

      const session = await fastify.sessions.start(user, {
        userAgent: request.headers['user-agent']?.slice(0, 512) ?? null,
        ip: request.ip,
      })
      request.log.info({ userId: user.id, sid: session.familyId }, 'login')
      return fastify.transport.sendTokens(request, reply, {
        userId: user.id,
        accessToken: fastify.accessTokens.sign(session),
        refreshToken: session.refreshToken,
      })
    },
  )
}

export default login
