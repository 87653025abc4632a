import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { RouteDeps } from '../context.js'
import { ACCESS_TOKEN_SECURITY, Nullable, Type, errorResponses } from '../../schemas/common.js'

const Session = Type.Object({
  id: Type.String({ format: 'uuid', description: 'the token family id; the `sid` claim of its access tokens' }),
  created_at: Type.String({ format: 'date-time', description: 'login time' }),
  last_used_at: Type.String({ format: 'date-time', description: 'last refresh' }),
  expires_at: Type.String({ format: 'date-time', description: 'when it ends unless refreshed before' }),
  user_agent: Nullable(Type.String()),
  ip: Nullable(Type.String()),
  current: Type.Boolean({ description: 'true for the session making this request' }),
})

// The caller's live sessions: one database read; the access token check itself is in memory.
const list: FastifyPluginAsyncTypebox<RouteDeps> = async (fastify, { core, authenticate }) => {
  fastify.get(
    '/sessions',
    {
      preHandler: authenticate,
      schema: {
        tags: ['sessions'],
        summary: "The caller's live sessions (devices)",
        security: ACCESS_TOKEN_SECURITY,
        response: { 200: Type.Object({ sessions: Type.Array(Session) }), ...errorResponses(400, 401, 503) },
      },
    },
    async (request) => {
      const { sub, sid } = request.authn!
      const families = await core.sessions.list(sub)
      return {
        sessions: families.map((f) => ({
          id: f.id,
          created_at: f.createdAt.toISOString(),
          last_used_at: f.lastUsedAt.toISOString(),
          expires_at: f.expiresAt.toISOString(),
          user_agent: f.userAgent,
          ip: f.ip,
          current: f.id === sid,
        })),
      }
    },
  )
}

export default list
