import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { LoginBody, TRANSPORT_NOTE, TokenResponse, Type, errorResponses } from '../../schemas/common.js'
import { requestMeta } from '../../http/meta.js'
import { perIp } from '../../plugins/rate-limit.js'

const login: FastifyPluginAsyncTypebox = async (fastify) => {
  const { loginPerIp, windowSec } = fastify.config.rateLimit
  fastify.post(
    '/auth/login',
    {
      config: { rateLimit: perIp(loginPerIp, windowSec) },
      schema: {
        tags: ['auth'],
        summary: 'Log in: start a session',
        description: `Unknown email and wrong password get the same 401. Limited per client IP and, after repeated failures, per account and client IP (429 with Retry-After). After repeated failures of the account from any address, 401 proof_of_work_required with a challenge: send the same request again with \`proof\`. ${TRANSPORT_NOTE}`,
        body: LoginBody,
        response: { 200: TokenResponse, 401: Type.Ref('LoginUnauthorized'), ...errorResponses(400, 429, 503) },
      },
    },
    async (request, reply) => {
      const session = await fastify.accounts.login(request.body.email, request.body.password, requestMeta(request), request.body.proof ?? null)
      return fastify.transport.sendTokens(request, reply, {
        userId: session.userId,
        accessToken: fastify.accessTokens.sign(session),
        refreshToken: session.refreshToken,
      })
    },
  )
}

export default login
