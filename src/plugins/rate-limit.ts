// @fastify/rate-limit for the per-IP limits on login and register. Nothing is limited unless
// a route asks (`config: { rateLimit: perIp(...) }`), and a refused request answers like
// every other error: 429 too_many_requests with Retry-After, before the body is even read.
// Counters are shared by every instance: in Postgres, or in Redis when REDIS_URL is set
// (src/limits/rate-limit-store.ts). A store that fails answers 503 with Retry-After.
import fp from 'fastify-plugin'
import rateLimit from '@fastify/rate-limit'
import { Redis } from 'ioredis'
import type { FastifyRequest } from 'fastify'
import { ApiError } from '../errors.js'
import { ipKey } from '../limits/policy.js'
import { clientIp } from '../http/meta.js'
import { postgresCounters, redisCounters, sharedRateLimitStore, type CounterBackend } from '../limits/rate-limit-store.js'

export default fp(
  async (fastify) => {
    const { redis: redisConfig } = fastify.config
    const log = fastify.log.child({ component: 'rate-limit' })
    let backend: CounterBackend
    if (redisConfig.url) {
      const redis = new Redis(redisConfig.url, {
        // As @fastify/rate-limit recommends: ioredis' defaults (10 s to connect, 20 retries
        // per command) would hold a request for seconds when Redis is gone. With these it
        // fails within about a second and answers 503.
        connectTimeout: 500,
        maxRetriesPerRequest: 1,
        // A Redis that accepts the connection but does not answer fails the same way.
        commandTimeout: 1000,
      })
      // Without a listener ioredis prints every failed reconnection; one line per outage is
      // enough, and each refused request logs its own warning.
      let down = false
      redis.on('error', (err: Error) => {
        if (!down) log.warn({ err }, 'redis unreachable; login and register answer 503 until it returns')
        down = true
      })
      redis.on('ready', () => {
        if (down) log.info('redis reachable again')
        down = false
      })
      fastify.addHook('onClose', async () => {
        redis.disconnect()
      })
      backend = redisCounters(redis, redisConfig.keyPrefix)
    } else {
      backend = postgresCounters(fastify.stores.counters)
    }

    await fastify.register(rateLimit, {
      global: false,
      store: sharedRateLimitStore(backend, log),
      errorResponseBuilder: (_request, context) =>
        new ApiError(
          'too_many_requests',
          'Too many requests from this address; retry after Retry-After.',
          Math.max(1, Math.ceil(context.ttl / 1000)),
        ),
    })
  },
  { name: 'rate-limit', dependencies: ['services'] },
)

/** Route config: at most `max` requests per `windowSec` per client IP (IPv6 per /64). */
export function perIp(max: number, windowSec: number) {
  return { max, timeWindow: windowSec * 1000, keyGenerator: (request: FastifyRequest) => ipKey(clientIp(request) ?? '') }
}
