import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Status, errorResponses } from '../schemas/common.js'
import { ApiError } from '../errors.js'
import { readMigrations, unappliedMigrations } from '../db/migrate.js'

// Liveness is the process answering. Readiness is the database reachable and every migration
// this build ships applied: an instance started against an older schema is not sent traffic.
const health: FastifyPluginAsyncTypebox = async (fastify) => {
  const expected = (await readMigrations()).map((m) => m.name)

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
      let missing: string[]
      try {
        missing = await unappliedMigrations(fastify.db.pool, expected)
      } catch (err) {
        request.log.warn({ err }, 'not ready: database unreachable')
        throw new ApiError('service_unavailable', 'The database is unreachable.', 1)
      }
      if (missing.length > 0) {
        request.log.warn({ missing }, 'not ready: migrations not applied')
        throw new ApiError('service_unavailable', 'The database schema is not up to date.', 5)
      }
      return { status: 'ok' as const }
    },
  )
}

export default health
