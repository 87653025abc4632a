import type { FastifyRequest, FastifyServerOptions } from 'fastify'
import type { TrustProxy } from '../config.js'
import type { SessionMeta } from '../tokens/token-store.js'

/** Who is asking, as stored with a session and an audit event. */
export function requestMeta(request: FastifyRequest): SessionMeta {
  return { userAgent: request.headers['user-agent']?.slice(0, 512) ?? null, ip: request.ip }
}

/** Fastify's trustProxy for a TRUST_PROXY setting. */
export function trustProxyOption(setting: TrustProxy): NonNullable<FastifyServerOptions['trustProxy']> {
  if (typeof setting !== 'number') return setting
  // Fastify 5.12.1 and later ignore a numeric trustProxy (they trust nothing), so the hop count
  // is this function: the peer (hop 0) and the next setting-1 entries from the right are the
  // proxies, and the entry after them is the client. Safe only when nothing reaches the service
  // except through those proxies (README: Limits).
  return (_address: string, hop: number) => hop < setting
}
