import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { RouteDeps } from './context.js'
import { Credentials, Type, errorResponses } from '../schemas/common.js'
import { requestMeta } from '../http/meta.js'

const NOTE = 'Email trimmed and lower-cased, control characters refused; password 8–1024 characters, any Unicode but NUL, NFC-normalised, hashed with argon2id. Limited per client IP'

const register: FastifyPluginAsyncTypebox<RouteDeps> = async (fastify, { core, limitPerIp }) => {
  const onRequest = limitPerIp('register', core.settings.rateLimit.registerPerIp)
  if (core.settings.emailVerification.enabled) {
    fastify.post(
      '/register',
      {
        onRequest,
        schema: {
          tags: ['auth'],
          summary: 'Create an account',
          description: `${NOTE} and per address. 202 whether or not the address has an account, in the same time: a new account is mailed a verification link and code; the owner of an existing one is told that someone tried, with a password reset link. Nothing in the answer says which.`,
          body: Credentials,
          response: { 202: Type.Object({ email: Type.String() }), ...errorResponses(400, 429, 503) },
        },
      },
      async (request, reply) => {
        const { email } = await core.recovery.register(request.body.email, request.body.password, requestMeta(request))
        return reply.code(202).send({ email })
      },
    )
    return
  }
  fastify.post(
    '/register',
    {
      onRequest,
      schema: {
        tags: ['auth'],
        summary: 'Create an account',
        description: `${NOTE}. Email verification is off: 201 for a new account and 409 email_taken for an address that has one, which tells anyone who has an account.`,
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
