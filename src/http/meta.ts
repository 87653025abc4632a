import type { FastifyRequest } from 'fastify'
import type { SessionMeta } from '../tokens/token-store.js'

/** Who is asking, as stored with a session and an audit event. */
export function requestMeta(request: FastifyRequest): SessionMeta {
  return { userAgent: request.headers['user-agent']?.slice(0, 512) ?? null, ip: request.ip }
}
