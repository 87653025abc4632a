// @fastify/rate-limit for the per-IP limits on login and register. Nothing is limited unless
// a route asks (`config: { rateLimit: perIp(...) }`), and a refused request answers like
// every other error: 429 too_many_requests with Retry-After, before the body is even read.
// Counters are in memory, per instance.
import fp from 'fastify-plugin'
import rateLimit from '@fastify/rate-limit'
import type { FastifyRequest } from 'fastify'
import { ApiError } from '../errors.js'
import { ipKey } from '../limits/policy.js'
import { clientIp } from '../http/meta.js'

export default fp(
  async (fastify) => {
    await fastify.register(rateLimit, {
      global: false,
      // One entry per client address and route; an attacker cycling addresses evicts the
      // oldest, which is the one least likely to be near its limit.
      cache: 20_000,
      errorResponseBuilder: (_request, context) =>
        new ApiError(
          'too_many_requests',
          'Too many requests from this address; retry after Retry-After.',
          Math.max(1, Math.ceil(context.ttl / 1000)),
        ),
    })
  },
  { name: 'rate-limit' },
)

/** Route config: at most `max` requests per `windowSec` per client IP (IPv6 per /64). */
export function perIp(max: number, windowSec: number) {
  return { max, timeWindow: windowSec * 1000, keyGenerator: (request: FastifyRequest) => ipKey(clientIp(request) ?? '') }
}
