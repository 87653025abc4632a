import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { RouteDeps } from './context.js'
import { ACCESS_TOKEN_SECURITY, Type, errorResponses } from '../schemas/common.js'

// Answered from the access token alone: this path makes no database query. The address is
// there only when the deployment puts it in access tokens (tokens.includeEmail).
const me: FastifyPluginAsyncTypebox<RouteDeps> = async (fastify, { authenticate }) => {
  fastify.get(
    '/me',
    {
      preHandler: authenticate,
      schema: {
        tags: ['auth'],
        summary: 'Who the access token belongs to',
        description: 'Answered from the access token and the in-memory denylist alone: no database query. `email` only when access tokens carry it (option tokens.includeEmail, ACCESS_TOKEN_EMAIL).',
        security: ACCESS_TOKEN_SECURITY,
        response: {
          200: Type.Object({ id: Type.String(), email: Type.Optional(Type.String()), email_verified: Type.Boolean(), session_id: Type.String() }),
          // 400: the access cookie sent more than once (ambiguous_credentials)
          ...errorResponses(400, 401),
        },
      },
    },
    async (request) => {
      const auth = request.authn!
      return { id: auth.sub, ...(auth.email === undefined ? {} : { email: auth.email }), email_verified: auth.email_verified, session_id: auth.sid }
    },
  )
}

export default me
