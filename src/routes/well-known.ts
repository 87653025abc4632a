import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '../schemas/common.js'

// Public keys for other services that verify our access tokens. Empty under HS256, whose
// key is a shared secret and must never be published.
const wellKnown: FastifyPluginAsyncTypebox = async (fastify) => {
  const jwk = fastify.config.jwt.key.jwk
  const body = { keys: jwk ? [jwk] : [] }
  fastify.get(
    '/.well-known/jwks.json',
    {
      schema: {
        tags: ['keys'],
        summary: 'Public keys that verify access tokens (JWKS)',
        description: 'Empty under HS256, whose key is a shared secret.',
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
