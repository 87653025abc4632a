import { isIP } from 'node:net'
import type { FastifyRequest } from 'fastify'
import type { SessionMeta } from '../tokens/token-store.js'

/** Who is asking, as stored with a session and an audit event. */
export function requestMeta(request: FastifyRequest): SessionMeta {
  return { userAgent: request.headers['user-agent']?.slice(0, 512) ?? null, ip: clientIp(request) }
}

/**
 * The client's address for rate-limit and lock keys, sessions, audit events and logs.
 * request.ip follows TRUST_PROXY, so it can be an X-Forwarded-For entry: text a client or a
 * misconfigured chain wrote. Only a syntactically valid IP is taken from there; anything else
 * falls back to the socket's peer, which the network vouches for. null only when the socket
 * has already gone.
 */
export function clientIp(request: FastifyRequest): string | null {
  const claimed: string | undefined = request.ip
  if (typeof claimed === 'string' && isIP(claimed) !== 0) return normaliseIp(claimed)
  const peer = request.raw.socket?.remoteAddress
  return peer !== undefined && isIP(peer) !== 0 ? normaliseIp(peer) : null
}

// One spelling per address: an IPv4 client on a dual-stack socket arrives as ::ffff:a.b.c.d,
// and a zone id (%eth0) only means something on this host.
function normaliseIp(ip: string): string {
  const zone = ip.indexOf('%')
  const bare = (zone === -1 ? ip : ip.slice(0, zone)).toLowerCase()
  return /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(bare)?.[1] ?? bare
}
