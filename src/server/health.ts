import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Status, errorResponses } from '../schemas/common.js'
import { ApiError } from '../errors.js'

// Liveness is the process answering. Readiness is the database reachable and every migration
// this build ships applied (the plugin's own check): an instance started against an older
// schema is not sent traffic.
const health: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get(
    '/health/live',
    {
      logLevel: 'warn',
      schema: { tags: ['health'], summary: 'The process is up', response: { 200: Status } },
    },
    async () => ({ status: 'ok' as const }),
  )

  fastify.get(
    '/health/ready',
    {
      logLevel: 'warn',
      schema: {
        tags: ['health'],
        summary: 'The database is reachable and fully migrated',
        response: { 200: Status, ...errorResponses(503) },
      },
    },
    async (request) => {
      const ready = await fastify.authn.ready()
      if (ready.ok) return { status: 'ok' as const }
      if (ready.reason === 'database_unreachable') {
        request.log.warn('not ready: database unreachable')
        throw new ApiError('service_unavailable', 'The database is unreachable.', 1)
      }
      request.log.warn({ missing: ready.missing }, 'not ready: migrations not applied')
      throw new ApiError('service_unavailable', 'The database schema is not up to date.', 5)
    },
  )
}

export default health
