import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { RouteDeps } from '../context.js'
import { ACCESS_TOKEN_SECURITY, ClientString, Nullable, Type, errorResponses } from '../../schemas/common.js'
import { ApiError } from '../../errors.js'
import { decodeCursor, encodeCursor } from '../../audit/cursor.js'
import { AUDIT_EVENT_TYPES, type AuditEventType } from '../../audit/events.js'

export const DEFAULT_PAGE = 20
export const MAX_PAGE = 100

const Event = Type.Object({
  id: Type.String({ format: 'uuid' }),
  type: Type.Unsafe<AuditEventType>({ type: 'string', enum: [...AUDIT_EVENT_TYPES] }),
  session_id: Nullable(Type.String({ format: 'uuid' })),
  reason: Nullable(Type.String()),
  ip: Nullable(Type.String()),
  user_agent: Nullable(Type.String()),
  created_at: Type.String({ format: 'date-time' }),
})

const events: FastifyPluginAsyncTypebox<RouteDeps> = async (fastify, { core, authenticate }) => {
  fastify.get(
    '/sessions/events',
    {
      preHandler: authenticate,
      schema: {
        tags: ['sessions'],
        summary: "The caller's account activity, newest first",
        description:
          'Logins (success and failure), refreshes, detected reuse, revoked sessions with the reason, password changes. Pass `next_cursor` back as `cursor` for the next page.',
        security: ACCESS_TOKEN_SECURITY,
        querystring: Type.Object({
          // A string: query values are not coerced in this app, and a pattern states the range exactly.
          limit: Type.Optional(Type.String({ pattern: '^(100|[1-9][0-9]?)$', description: `page size, 1–${MAX_PAGE} (default ${DEFAULT_PAGE})` })),
          cursor: Type.Optional(ClientString({ maxLength: 200, description: '`next_cursor` of the previous page' })),
        }),
        response: {
          200: Type.Object({
            events: Type.Array(Event),
            next_cursor: Type.Union([Type.String(), Type.Null()], { description: 'null on the last page' }),
          }),
          ...errorResponses(400, 401, 503),
        },
      },
    },
    async (request) => {
      const limit = request.query.limit ? Number(request.query.limit) : DEFAULT_PAGE
      const after = request.query.cursor === undefined ? null : decodeCursor(request.query.cursor)
      if (after === null && request.query.cursor !== undefined) throw new ApiError('invalid_request', 'The cursor is not valid.')
      // One row more than the page says whether there is a next page.
      const rows = await core.audit.listForUser(request.authn!.sub, limit + 1, after)
      const page = rows.slice(0, limit)
      const last = page[page.length - 1]
      return {
        events: page.map((e) => ({
          id: e.id,
          type: e.type as AuditEventType,
          session_id: e.familyId,
          reason: e.reason,
          ip: e.ip,
          user_agent: e.userAgent,
          created_at: e.createdAt.toISOString(),
        })),
        next_cursor: rows.length > limit && last ? encodeCursor(last) : null,
      }
    },
  )
}

export default events
