import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { RouteDeps } from '../context.js'
import { ACCESS_TOKEN_SECURITY, NoContent, Type, errorResponses } from '../../schemas/common.js'
import { ApiError } from '../../errors.js'
import { wantsCookies } from '../../http/transport.js'
import { requestMeta } from '../../http/meta.js'

const revoke: FastifyPluginAsyncTypebox<RouteDeps> = async (fastify, { core, authenticate }) => {
  fastify.delete(
    '/sessions/:id',
    {
      preHandler: authenticate,
      schema: {
        tags: ['sessions'],
        summary: 'Revoke one of your sessions',
        description:
          "Ends the session on every instance within a second. Someone else's session id answers 404 exactly like one that does not exist. Revoking an already revoked session of yours is a 204.",
        security: ACCESS_TOKEN_SECURITY,
        params: Type.Object({ id: Type.String({ format: 'uuid' }) }),
        response: { 204: NoContent, ...errorResponses(400, 401, 404, 503) },
      },
    },
    async (request, reply) => {
      const { sub, sid } = request.authn!
      const outcome = await core.sessions.revokeOwn(sub, request.params.id, 'user_revoked', requestMeta(request))
      if (outcome === 'not_found') throw new ApiError('session_not_found')
      if (request.params.id === sid && wantsCookies(request)) core.transport.clearCookies(reply)
      return reply.code(204).send(null)
    },
  )
}

export default revoke
