import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { RouteDeps } from './context.js'
import { LoginBody, LoginUnauthorized, TRANSPORT_NOTE, TokenResponse, Type, errorResponses } from '../schemas/common.js'
import { requestMeta } from '../http/meta.js'
import { ApiError } from '../errors.js'

const login: FastifyPluginAsyncTypebox<RouteDeps> = async (fastify, { core, tokens, limitPerIp }) => {
  const max = core.settings.rateLimit.loginPerIp
  // With the counters in Postgres, the login's gate statement counts the request: one round
  // trip fewer per login. With Redis, the hook counts it there.
  const counted = limitPerIp.counted('login', max)
  fastify.post(
    '/login',
    {
      onRequest: counted ? counted.onRequest : limitPerIp('login', max),
      ...(counted ? { onError: counted.onError } : {}),
      schema: {
        tags: ['auth'],
        summary: 'Log in: start a session',
        description: `Unknown email and wrong password get the same 401. Limited per client IP and, after repeated failures, per account and client IP (429 with Retry-After). After repeated failures of the account from any address, 401 proof_of_work_required with a challenge: send the same request again with \`proof\`. An account with a second factor (an authenticator app or a passkey) answers the right password with 401 mfa_required, \`challenge\`, \`methods\` and \`expires_in\`, and no session: answer it at POST /mfa/verify. Access tokens carry amr (["pwd"] here) and auth_time. ${TRANSPORT_NOTE}`,
        body: LoginBody,
        response: { 200: TokenResponse, 401: LoginUnauthorized, ...errorResponses(400, 429, 503) },
      },
    },
    async (request, reply) => {
      const { client_id: clientId = core.settings.clients.defaultClient } = request.body
      // Checked before any password work. Not invalid_client: that is a 401, which a login
      // form would show as wrong credentials; the client is a bug to fix, not a retry.
      if (!core.settings.clients.publicClients.has(clientId)) throw new ApiError('invalid_request', 'Unknown client_id.')
      const session = await core.accounts.login(
        request.body.email,
        request.body.password,
        requestMeta(request),
        request.body.proof ?? null,
        { client_id: clientId },
        counted?.of(request) ?? null,
      )
      return core.transport.sendTokens(request, reply, {
        userId: session.userId,
        accessToken: tokens.sign(session),
        refreshToken: session.refreshToken,
      })
    },
  )
}

export default login
