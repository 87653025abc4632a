import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { RouteDeps } from './context.js'
import { Type } from '../schemas/common.js'

// Public keys for other services that verify our access tokens: the current one, then any
// retired ones whose tokens may still be live (JWT_PREVIOUS_JWKS). Empty under HS256, whose
// key is a shared secret and must never be published.
const wellKnown: FastifyPluginAsyncTypebox<RouteDeps> = async (fastify, { core }) => {
  const { key, previousKeys } = core.settings.jwt
  const body = { keys: key.jwk ? [key.jwk, ...previousKeys.map((k) => k.jwk)] : [] }
  fastify.get(
    '/.well-known/jwks.json',
    {
      schema: {
        tags: ['keys'],
        summary: 'Public keys that verify access tokens (JWKS)',
        description: 'The current signing key first, then retired keys whose tokens may still be valid. Empty under HS256, whose key is a shared secret.',
        response: { 200: Type.Object({ keys: Type.Array(Type.Record(Type.String(), Type.Unknown())) }) },
      },
    },
    async (_request, reply) => {
      reply.header('cache-control', 'public, max-age=300')
      return body
    },
  )
}

export default wellKnown
