// Which X-Forwarded-For entries a Fastify app may believe. The client writes that header; only
// the entries appended by the app's own proxies say where a request came from, and the per-IP
// limits, the login lock and the sessions' recorded addresses all key on that answer.
import type { FastifyInstance } from 'fastify'

/**
 * Fastify's `trustProxy` for `hops` proxies in front of the app (1: one load balancer that
 * appends the client's address). Fastify 5.12.1 and later ignore a number there (they trust
 * nothing), so the hop count is this function: the peer (hop 0) and the next hops-1 entries
 * from the right are the proxies, and the entry after them is the client. Safe only when
 * nothing reaches the app except through those proxies.
 */
export function trustProxyHops(hops: number): (address: string, hop: number) => boolean {
  if (!Number.isInteger(hops) || hops < 1) throw new TypeError('trustProxyHops(n): n must be a whole number of proxies, 1 or more')
  return (_address, hop) => hop < hops
}

/**
 * The host's `trustProxy` when it is `true`, which makes the leftmost X-Forwarded-For entry,
 * written by the client, the request's address. Fastify does not expose its options; this
 * reads the instance's own (a symbol named `fastify.options`) and answers false when it
 * cannot tell.
 */
export function trustsEveryProxy(fastify: FastifyInstance): boolean {
  for (let o: object | null = fastify; o !== null; o = Object.getPrototypeOf(o)) {
    const key = Object.getOwnPropertySymbols(o).find((s) => s.description === 'fastify.options')
    if (key) return (o as Record<symbol, { trustProxy?: unknown } | undefined>)[key]?.trustProxy === true
  }
  return false
}

export const TRUST_EVERY_PROXY_MESSAGE =
  "the app's trustProxy is true: every client can choose its own address in X-Forwarded-For, and so slip the per-IP limits and the login lock, or lock someone else out. " +
  "Trust only your proxies: trustProxyHops(1) from fastify-auth-service behind one load balancer, or the proxies' addresses or CIDRs (trustProxy: '10.0.0.0/8')"
